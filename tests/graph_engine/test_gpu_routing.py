"""GPU-tagged nodes land only on workers that offer the GPU resource."""
import numpy as np
import pytest
from distributed import Client, Scheduler, SpecCluster, Worker
from pydantic import BaseModel, ConfigDict

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.contract import AUDIO, default_registry, node


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@pytest.fixture(scope="module")
def gpu_registry():
    # A stand-in GPU node: what matters here is the routing, which reads only `gpu=True`.
    node("test.gpu_invert", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=_NoParams, gpu=True,
         category="vc")(lambda params, audio: type(audio)(-audio.numpy(), audio.sample_rate))
    return default_registry(reload=True)


def fan_out_doc(branches=4):
    nodes = [{"id": "src", "type": "gen.tone", "params": {"duration": 0.2}}]
    edges = []
    for i in range(branches):
        nodes += [{"id": f"gpu{i}", "type": "test.gpu_invert"},
                  {"id": f"cpu{i}", "type": "audio.gain", "params": {"gain_db": -i}}]
        edges += [{"from": "src.audio", "to": f"gpu{i}.audio"}, {"from": f"gpu{i}.audio", "to": f"cpu{i}.audio"}]
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges,
                           "outputs": {"o": "cpu0.audio"}})


def test_gpu_nodes_run_only_on_gpu_worker(haysay_home, gpu_registry):
    cluster = SpecCluster(
        scheduler={"cls": Scheduler, "options": {"dashboard_address": None}},
        workers={"plain": {"cls": Worker, "options": {"nthreads": 2}},
                 "gpu": {"cls": Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}}}})
    client = Client(cluster)
    try:
        gpu_addr = next(a for a, w in client.scheduler_info()["workers"].items() if w["resources"].get("GPU"))
        eng = Engine(Settings.from_env(), registry=gpu_registry)
        eng.attach(client)
        result = eng.run(fan_out_doc())
        assert result.ok, result.error
        stages = {s.node_id: s for s in eng.history.stages(result.run_id)}
        assert {stages[f"gpu{i}"].worker for i in range(4)} == {gpu_addr}
        np.testing.assert_allclose(result.outputs["o"].numpy(), -eng.store.open(stages["src"].cache_key)["audio"].numpy(),
                                   atol=1e-6)
    finally:
        client.close()
        cluster.close()


def test_gpu_nodes_fall_back_to_cpu_workers_when_no_gpu_worker(haysay_home, gpu_registry):
    with Engine(Settings.from_env(), registry=gpu_registry) as eng:
        result = eng.run(fan_out_doc(branches=1))
        assert result.ok and result.stages["gpu0"].status == "done"
