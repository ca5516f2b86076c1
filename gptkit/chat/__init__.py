"""Conversations: demonstration data, chat templates, supervised fine-tuning, the chat REPL."""
