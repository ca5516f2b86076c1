"""``gptkit chat``'s read-eval-print loop: user lines, slash commands, streamed replies.

On a terminal it prompts (``you>``) and streams each reply as it is sampled; when stdin is a file
or a pipe it reads one line at a time and answers each in turn (``gptkit chat RUN < questions.txt``),
one reply per output line, so sessions are scriptable and testable.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterable

from gptkit.chat.session import ChatSession
from gptkit.errors import UsageError

HELP = """commands:
  /system TEXT        set the system prompt (kept when old turns are trimmed); /system alone removes it
  /clear              forget the conversation (the system prompt stays)
  /set K=V ...        temperature, top_k, top_p, max_tokens, seed (e.g. /set temperature=0.7 top_k=50)
  /save FILE          write the conversation as one {"messages": [...]} JSON line
  /help               this text
  /exit               leave (so does Ctrl-D)"""


def run_repl(session: ChatSession, lines: Iterable[str], write: Callable[[str], None],
             note: Callable[[str], None]) -> int:  # fmt: skip
    """Answer ``lines`` until they end or ``/exit``; replies go to ``write``, notices to ``note``.
    Returns the number of replies."""
    replies = 0
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("/"):
            try:
                if not command(session, line, note):
                    break
            except UsageError as e:
                note(f"error: {e}")
        else:
            session.reply(line, write)
            write("\n")
            replies += 1
            if session.dropped:
                note(f"(context full: the {session.dropped} oldest exchange(s) were left out)")
    return replies


def command(session: ChatSession, line: str, note: Callable[[str], None]) -> bool:
    """Run one slash command; False means leave."""
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    if name == "/exit":
        return False
    if name == "/system":
        session.system = arg or None
        note("system prompt " + ("set" if arg else "removed"))
    elif name == "/clear":
        session.clear()
        note("conversation cleared")
    elif name == "/set":
        session.settings.update(shlex.split(arg))
        s = session.settings
        note(f"temperature={s.temperature} top_k={s.top_k} top_p={s.top_p} max_tokens={s.max_tokens} seed={s.seed}")
    elif name == "/save":
        if not arg:
            raise UsageError("/save FILE: give a file name")
        note(f"saved {len(session.messages)} messages to {session.save(arg)}")
    elif name == "/help":
        note(HELP)
    else:
        raise UsageError(f"unknown command {name} (/help lists them)")
    return True


def terminal_lines(prompt: str = "you> ") -> Iterable[str]:
    """Lines typed at a terminal (with line editing where ``readline`` exists), until Ctrl-D."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - imported for its side effect on input()
    while True:
        try:
            yield input(prompt)
        except EOFError:
            return
