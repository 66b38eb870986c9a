"""Book-keeping never decides an effect's fate: a run whose record cannot be written keeps going.

Every step rewrites its run's record. A write that fails is tried again with a budget of its own
(``PAUSES``, on top of the DynamoDB client's retries), separate from the step's retries: those
belong to the effect, and a run-log incident must not use them up, fail the step and leave an
e-mail unsent. What still cannot be written goes to the run log's dead-letter (an SQS queue on
AWS), from which ``dealflow run-log drain`` writes it back; only if that fails too is the record
left in the function's log, whole — never nowhere. The next step's write carries the whole record
again, so a run-log incident that ends mid-run leaves the run log complete, only late.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from dealflow import clock
from dealflow.engine.run_failures import readable
from dealflow.model import RunRecord
from dealflow.ports import RunDeadLetter, RunLog

logger = Logger()

# Seconds between tries of one record's write: four tries within 3.5 s, well inside a step.
PAUSES = (0.5, 1.0, 2.0)


def keep(runs: RunLog, record: RunRecord, dead_letter: RunDeadLetter | None) -> bool:
    """Write ``record`` to the run log, trying again within its own budget; what cannot be written
    goes to ``dead_letter``. Never raises; True when the run log has it."""
    error: Exception | None = None
    for pause in (*PAUSES, None):
        try:
            runs.write(record)
            return True
        except Exception as exc:  # whatever it is, it is the run log's, not the run's
            error = exc
            if pause is not None:
                clock.sleep(pause)
    reason = f"the run log could not be written: {readable(error or RuntimeError('unknown error'))}"
    ids = {"tenant_id": record.tenant_id, "run_id": record.run_id, "status": record.status}
    try:
        if dead_letter is None:
            raise RuntimeError("this function has no run-log dead-letter configured")
        dead_letter.put(record, reason)
        logger.warning("run record sent to the run log's dead-letter", extra={**ids, "reason": reason})
    except Exception:  # the last resort: the whole record in the function's log
        logger.exception(
            "run record written neither to the run log nor to its dead-letter",
            extra={**ids, "reason": reason, "record": record.model_dump(mode="json")},
        )
    return False
