"""The ``gptkit`` command line: Typer apps that parse options and call stage code.

No pipeline logic lives here: each command turns its options into the stage's config,
renders progress and results with rich, and turns stage errors into exit codes.
"""
