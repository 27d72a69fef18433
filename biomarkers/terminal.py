"""The two consoles every command writes to (results on stdout, problems on stderr) and the error exit.

Their own module (issue 17) so that the command modules (biomarkers/commands_*.py) use them without
importing biomarkers/cli.py, which imports the command modules to register them: one direction only.
"""

from __future__ import annotations

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
