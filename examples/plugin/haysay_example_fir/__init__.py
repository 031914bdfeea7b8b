"""haysay-example-fir: a worked example of a haysay adapter plug-in (see docs/adapters.md)."""


def register() -> None:
    """Entry point of the `haysay.nodes` group: importing the node module registers it."""
    from haysay_example_fir import node  # noqa: F401
