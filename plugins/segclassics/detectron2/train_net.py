"""detectron2's ``tools/train_net.py`` for yaml configs that name segclassics parts.

::

    python -m segclassics.detectron2.train_net --config-file X.yaml [--num-gpus N] [--eval-only]
        [--trust-checkpoint] [--debug] [KEY VALUE ...]

The same arguments (``default_argument_parser``), setup (``default_setup``: logging, the saved
``config.yaml``, seeding), training (``DefaultTrainer``, resumed with ``--resume``) and
multi-GPU ``launch`` as detectron2's own script; added: ``import segclassics.detectron2``
(our backbones, heads, meta-architectures and datasets in detectron2's registries) and
:func:`~segclassics.detectron2.config.add_segclassics_config` before the file is merged (the
``MODEL.SEGCLASSICS.*`` keys), the evaluators of :class:`~segclassics.detectron2.trainer.Trainer`, and
checkpoint reads that refuse a file which would run code while unpickling (detectron2's own
checkpointer unpickles ``.pkl`` files fully), unless ``--trust-checkpoint`` (as every segclassics
tool: only for legacy files whose origin you trust).
A script of one's own needs the same two lines before ``merge_from_file``::

    import segclassics.detectron2  # noqa: F401  (registers our parts and datasets)
    from segclassics.detectron2.config import add_segclassics_config
    cfg = add_segclassics_config(get_cfg())

An unknown key, a value of the wrong type, a file that is not a config, images whose channels
the model does not take or heads with another class count than the training data is one ``error:``
line (exit status 2); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import sys

from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils import comm

import segclassics.detectron2  # noqa: F401  (registers our parts and datasets)
from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer
from segclassics.detectron2.config import add_segclassics_config, merge_or_report
from segclassics.detectron2.run_checks import check_run
from segclassics.detectron2.trainer import Trainer
from segclassics.utils.cli_args import add_debug, add_trust_checkpoint
from segclassics.utils.reader import trust_option
from segclassics.utils.reporting import run_reporting_user_errors

__all__ = ["setup", "main", "cli", "argument_parser"]


def argument_parser():
    """detectron2's ``default_argument_parser`` plus ``--trust-checkpoint`` and ``--debug``."""
    parser = default_argument_parser()
    add_trust_checkpoint(parser)
    add_debug(parser)
    return parser


def setup(args):
    """The frozen config of ``args.config_file`` + ``args.opts`` (our keys added), checked as
    ``tools/train.py`` checks it (:func:`~segclassics.detectron2.run_checks.check_run`: input
    channels, and class counts when training), after ``default_setup``."""
    cfg = merge_or_report(add_segclassics_config(get_cfg()), args.config_file)
    merge_or_report(cfg, args.config_file, args.opts)
    cfg.freeze()
    check_run(cfg, False, args.config_file, ["test"] if args.eval_only else ["train", "test"])
    default_setup(cfg, args)
    return cfg


def main(args):
    """detectron2's ``train_net.main``: ``--eval-only`` evaluates ``MODEL.WEIGHTS``; otherwise trains."""
    # args of detectron2's own parser have no --trust-checkpoint: refusals then give the library hint
    has_flag = hasattr(args, "trust_checkpoint")
    trusted = has_flag and args.trust_checkpoint
    # a refused checkpoint names --trust-checkpoint, in every process launch starts
    with trust_option() if has_flag else contextlib.nullcontext():
        cfg = setup(args)
        if args.eval_only:
            model = Trainer.build_model(cfg)
            checkpointer = SafeDetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR, trusted=trusted)
            checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
            results = Trainer.test(cfg, model)
            if comm.is_main_process():
                verify_results(cfg, results)
            return results
        trainer = Trainer(cfg, trusted=trusted)
        trainer.resume_or_load(resume=args.resume)
        return trainer.train()


def cli(argv=None) -> int:
    """Parse ``argv`` as detectron2's ``default_argument_parser`` does (plus ``--trust-checkpoint``
    and ``--debug``) and ``launch`` :func:`main`."""
    args = argument_parser().parse_args(argv)

    def run() -> int:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
        return 0

    # the reporter of every segclassics tool: input errors (ours, the registries', a value a built
    # class refuses) are one line, Ctrl-C is one line with exit status 130, bugs keep their traceback
    return run_reporting_user_errors(run, args.debug, args.config_file or None)


if __name__ == "__main__":
    sys.exit(cli())
