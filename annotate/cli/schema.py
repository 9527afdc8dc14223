"""`annotate schema check|xml`: the schema file and the labelling config it makes."""

from __future__ import annotations



from ..errors import SchemaError
from .. import schema as schema_mod  # cheap, and store needs it anyway

from .common import (
    schema_app,
    echo,
    SchemaFileArg,
    _schema_file,
)


# --- schema ---------------------------------------------------------------------


@schema_app.command("check")
def schema_check(file: SchemaFileArg = None) -> None:
    """Report every problem of a schema file by file, line and field."""
    path = _schema_file(file)
    problems = schema_mod.check(path)
    if problems:
        raise SchemaError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems), problems)
    schema = schema_mod.load(path)
    echo(
        f"{path}: OK — {len(schema.entities)} entity/value types, {len(schema.events)} event types,"
        f" {len(schema.role_names)} roles, {len(schema.document)} document fields"
    )


@schema_app.command("xml")
def schema_xml(file: SchemaFileArg = None) -> None:
    """Print the Label Studio labelling config generated from a schema."""
    echo(schema_mod.label_config(schema_mod.load(_schema_file(file))), nl=False)
