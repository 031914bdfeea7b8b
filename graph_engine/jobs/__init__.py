"""Jobs: durable, non-blocking pipeline runs with lanes, timeouts, crash recovery and batches.

    from haysay.graph_engine.jobs import JobRunner
    with JobRunner() as runner:
        job_id = runner.submit(doc, inputs={"text": "Hello"})
        print(runner.wait(job_id).state)
"""
from .model import (CANCELLED, CPU_LANE, FAILED, GPU_LANE, INTERRUPTED, QUEUED, RUNNING, STATES, SUCCEEDED,
                    BadTransition, Job, JobEvent, JobPolicy, JobRequest)
from .queue import JobStore, UnknownJob
from .runner import JobRunner
from .spool import OrchestratorBusy, Spool
from .workers import AdmissionRefused, Capacity, NodeModules

__all__ = [
    "CANCELLED", "CPU_LANE", "FAILED", "GPU_LANE", "INTERRUPTED", "QUEUED", "RUNNING", "STATES", "SUCCEEDED",
    "BadTransition", "Job", "JobEvent", "JobPolicy", "JobRequest", "JobStore", "UnknownJob", "JobRunner",
    "OrchestratorBusy", "Spool", "AdmissionRefused", "Capacity", "NodeModules",
]
