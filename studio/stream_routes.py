"""HTTP route that hands a running stage's streamed blocks to the page's stream player, one at a time:

    GET /stream/{run_id}/{node}/{index}.f32

200: block `index` as raw little-endian float32, channel after channel (X-Channels rows of
X-Frames samples), with X-Start (its first frame in the stage's output) and X-Rate. 204: not
come yet. Both carry X-Stage (the stage's status now) and X-Blocks (blocks come so far), so the
player knows when to stop asking: the stage has ended and every block has been taken. Run ids
are the handles' random ids; only the studio's newest runs are kept (runs.LiveRuns).
"""
from __future__ import annotations

import re

import numpy as np
from fastapi import FastAPI, HTTPException, Response

from .runs import LiveRuns

RUN_RE = re.compile(r"[0-9a-f]{32}")
NODE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")


def add_stream_routes(app: FastAPI, live: LiveRuns) -> None:
    @app.get("/stream/{run_id}/{node}/{index}.f32")
    def stream_block(run_id: str, node: str, index: int):
        if not RUN_RE.fullmatch(run_id):
            raise HTTPException(400, "run id must be 32 lowercase hex digits")
        if not NODE_RE.fullmatch(node):
            raise HTTPException(400, "node must be a node id")
        if index < 0:
            raise HTTPException(400, "index must be 0 or more")
        handle = live.get(run_id)
        if handle is None:
            raise HTTPException(404, f"no live run {run_id[:8]}…")
        block, count, status = handle.block(node, index)
        headers = {"X-Stage": status, "X-Blocks": str(count), "Cache-Control": "no-store"}
        if block is None:
            return Response(status_code=204, headers=headers)
        data = np.ascontiguousarray(block.audio.data, "<f4")
        headers.update({"X-Start": str(block.start), "X-Rate": str(block.audio.sample_rate),
                        "X-Channels": str(data.shape[0]), "X-Frames": str(data.shape[1])})
        return Response(data.tobytes(), media_type="application/octet-stream", headers=headers)
