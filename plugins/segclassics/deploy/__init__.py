"""ONNX export of the semantic segmentation models, framework-free.

* :mod:`.sizes` -- the input heights/widths a model accepts (checked, and declared to the exporter);
* :mod:`.families` -- which exportable network a built model contains (FCN, UNet, SegNet, SETR);
* :mod:`.wrapper` -- the exported module: [normalisation] -> semantic forward -> [arg-max];
* :mod:`.export` -- ``torch.export`` + ``torch.onnx`` with dynamic batch/H/W, metadata;
* :mod:`.verify` -- onnxruntime against PyTorch;
* :mod:`.benchmark` -- onnxruntime vs PyTorch CPU latency;
* :mod:`.cli` -- ``tools/export_onnx.py`` (:func:`.cli.export_main`).

Nothing here imports mmengine, mmseg, mmdet, detectron2 or their adapters at module level: the
framework glue is ``segclassics.engine.semantic_forward`` (and the config loading of
``segclassics.engine``), loaded inside the functions that need it.
"""
