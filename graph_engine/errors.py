"""Errors are data: located problems that the CLI, studio and notebook all render."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GraphError:
    """One problem, located at a node and a param field or port where it has one.

    code is one of: invalid_json, format, schema, duplicate_id, unknown_node_type,
    unknown_port, bad_edge, port_type_mismatch, cycle, unconnected_input,
    invalid_param, missing_file, unknown_input, missing_input, unknown_output,
    invalid_input (a node refuses what its inputs' headers say: too many channels, too short),
    memory (a stage would need more memory than a worker has), bypass (a bypassed node has no
    same-type input to pass an output through), unknown_node (a group names a node that is not
    in the graph). Warnings, which do not stop
    a run, use input_warning (a truncated file).
    """

    code: str
    message: str
    node: str | None = None
    field: str | None = None
    port: str | None = None

    @property
    def location(self) -> str:
        where = self.node or ""
        if self.port:
            where += f".{self.port}"
        elif self.field:
            where += f".{self.field}" if where else self.field
        return where

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def to_dict(self) -> dict:
        return asdict(self)


class InvalidPipeline(ValueError):
    """Raised when a pipeline fails preflight validation; `errors` lists every problem."""

    def __init__(self, errors: list[GraphError]):
        self.errors = list(errors)
        super().__init__("invalid pipeline:\n" + "\n".join(f"  - {e}" for e in self.errors))


class StageFailed(RuntimeError):
    """A node raised while running."""

    def __init__(self, node: str, node_type: str, message: str):
        self.node, self.node_type, self.message = node, node_type, message
        super().__init__(f"{node} ({node_type}) failed: {message}")
