"""text.value: a literal text (what a pipeline's text input usually binds to)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import TEXT, node


class TextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("Hello from haysay.", min_length=1, max_length=100_000, description="The text",
                      json_schema_extra={"widget": "textarea"})


@node("text.value", outputs={"text": TEXT}, params=TextParams, category="source", title="Text", memory=0.0)
def text_value(params: TextParams) -> str:
    """A literal text to feed a TTS engine."""
    return params.text
