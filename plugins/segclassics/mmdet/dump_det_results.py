"""mmdet's ``tools/test.py --out FILE.pkl`` through segclassics' writer.

MMDetection's test script appends ``DumpDetResults(out_file_path=FILE)`` to the test evaluator:
every test prediction (ground truth removed, instance masks RLE-encoded, tensors on the CPU) is
collected and pickled into one file, which mmdet's offline tools read
(``tools/analysis_tools/eval_metric.py``, ``confusion_matrix.py``). :class:`CheckedDumpDetResults`
collects exactly the same records (mmdet's own ``process``) and writes the same pickle as
mmengine's ``dump`` (protocol 2), but through :func:`segclassics.utils.writer.open_for_write`:
atomic, and never over a file that this run did not write.
"""

from __future__ import annotations

import pickle

from mmdet.evaluation import DumpDetResults
from mmengine.logging import print_log

from segclassics.utils.writer import open_for_write

#: mmengine's ``PickleHandler`` writes with this protocol.
PICKLE_PROTOCOL = 2


class CheckedDumpDetResults(DumpDetResults):
    """``DumpDetResults`` whose file is written by segclassics' writer (not registered: the test
    command appends it to the test evaluator, as mmdet's test script appends its own)."""

    def compute_metrics(self, results: list) -> dict:
        with open_for_write(self.out_file_path, "wb", what="--out") as f:
            pickle.dump(results, f, protocol=PICKLE_PROTOCOL)
        print_log(f"predictions of {len(results)} images written to {self.out_file_path}", logger="current")
        return {}
