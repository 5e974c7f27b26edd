"""`lienthong dev`: tools for development and tests. `axis-sim` runs the national-axis simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dev_app = typer.Typer(help="Tools for development and tests.", no_args_is_help=True)


@dev_app.command("axis-sim")
def axis_sim(
    system: Annotated[
        list[str],
        typer.Option(
            "--system",
            help="a connected system: ID:SECRET (serving the agency coded ID) or "
            "ID:SECRET@PATTERN[,PATTERN…] (e.g. hub-h62:s3cret@*.H62); repeatable",
        ),
    ],
    port: Annotated[int, typer.Option(help="port to listen on")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    directory: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="directory file, CSV or JSON (default: the demo)"),
    ] = None,
) -> None:
    """Run a simulated national document axis (in memory) at http://HOST:PORT."""
    import uvicorn

    from app.agencies.directory_file import DirectoryFileError, demo_directory, read_directory_file
    from app.axis.simulator import create_simulator, parse_system

    try:
        systems = [parse_system(text) for text in system]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--system") from None
    try:
        records = read_directory_file(directory) if directory is not None else demo_directory()
    except DirectoryFileError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    try:
        app = create_simulator(systems, records)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--system") from None
    names = ", ".join(f"{s.system_id} ({', '.join(map(str, s.serves))})" for s in systems)
    typer.echo(f"axis simulator on http://{host}:{port} for {names}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
