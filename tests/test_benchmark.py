"""tools/benchmark.py: JSON report fields, parameter counts, FLOPs convention, side-by-side ratios."""
from __future__ import annotations

import json

import pytest
import torch

from segclassics.engine import benchmark as bm

D2_MASK_RCNN = 'tests/fixtures/benchmark/d2_tiny_mask_rcnn.py'
D2_UNET = 'configs/detectron2/unet_synthetic.py'
MMSEG_TINY = 'tests/fixtures/benchmark/mmseg_tiny_unet.py'
MMDET_TINY = 'tests/fixtures/benchmark/mmdet_tiny_mask_rcnn.py'


def _d2_param_count(path: str) -> int:
    """Independent build: detectron2's LazyConfig + instantiate, then count."""
    from detectron2.config import LazyConfig, instantiate
    import segclassics.detectron2  # noqa: F401
    model = instantiate(LazyConfig.load(path).model)
    return sum(p.numel() for p in model.parameters())


def test_flop_convention_on_a_conv():
    """A multiply-add counts 2: Conv2d(3->8, k3, pad 1) on 1x3x20x30 = 2 * 3*8*9 * 20*30 FLOPs."""
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.zeros(1, 3, 20, 30)
    assert bm.count_flops(lambda: conv(x)) == 2 * 3 * 8 * 9 * 20 * 30
    lin = torch.nn.Linear(16, 4, bias=False)
    assert bm.count_flops(lambda: lin(torch.zeros(5, 16))) == 2 * 5 * 16 * 4


def test_detectron2_pair_report(repo_root, monkeypatch):
    pytest.importorskip('detectron2')
    monkeypatch.chdir(repo_root)
    report = bm.run([D2_MASK_RCNN, D2_UNET], shape=(64, 64), batch=2, iters=1, warmup=1, log=lambda s: None)
    assert set(report) >= {'machine', 'settings', 'results', 'ratios', 'ratio_direction'}
    m = report['machine']
    for key in ('cpu_model', 'cpu_logical_cores', 'torch_version', 'device', 'device_name', 'torch_threads'):
        assert m[key] not in (None, '')
    assert m['torch_version'] == torch.__version__
    s = report['settings']
    assert s['shape'] == [64, 64] and s['batch'] == 2 and 'multiply-add = 2 FLOPs' in s['flops_method']
    rcnn, unet = report['results']
    assert (rcnn['framework'], rcnn['task'], rcnn['model_class']) == ('detectron2', 'instances', 'GeneralizedRCNN')
    assert (unet['framework'], unet['task']) == ('detectron2', 'sem_seg')
    assert rcnn['params'] == _d2_param_count(D2_MASK_RCNN)
    assert unet['params'] == _d2_param_count(D2_UNET)
    for r in (rcnn, unet):
        for key in ('gflops', 'infer_images_per_s', 'train_images_per_s', 'train_peak_mem_mb'):
            assert r[key] > 0, (r['config'], key)
        assert r['infer_peak_mem_mb'] >= 0
    assert report['ratio_direction'] == 'config2 / config1'
    assert report['ratios']['params'] == pytest.approx(unet['params'] / rcnn['params'])
    table = bm.format_table(report['results'])
    assert 'ratio (2nd / 1st)' in table and 'GFLOPs / image' in table


def test_flops_scale_with_pixels(repo_root, monkeypatch):
    """A fully convolutional net ('same' padding) does 4x the FLOPs on 2x the side."""
    pytest.importorskip('detectron2')
    monkeypatch.chdir(repo_root)
    small = bm.benchmark_config(D2_UNET, (32, 32), 1, iters=1, warmup=0, train=False, log=lambda s: None)
    big = bm.benchmark_config(D2_UNET, (64, 64), 1, iters=1, warmup=0, train=False, log=lambda s: None)
    assert big['gflops'] == pytest.approx(4 * small['gflops'], rel=1e-6)
    assert 'train_images_per_s' not in small


def test_mmseg_tiny(repo_root, monkeypatch):
    pytest.importorskip('mmseg')
    monkeypatch.chdir(repo_root)
    report = bm.run([MMSEG_TINY], shape=(32, 48), batch=2, iters=1, warmup=0, log=lambda s: None)
    (r,) = report['results']
    assert (r['framework'], r['model_class'], r['num_classes']) == ('mmseg', 'EncoderDecoder', 6)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(MMSEG_TINY).model)
    assert r['params'] == sum(p.numel() for p in model.parameters())
    assert r['model_input_shape'] == [32, 48] and r['train_model_input_shape'] == [32, 48]  # 16-divisible
    assert r['gflops'] > 0 and r['train_images_per_s'] > 0
    assert report['ratios'] == {}


def test_mmdet_tiny(repo_root, monkeypatch):
    pytest.importorskip('mmdet')
    monkeypatch.chdir(repo_root)
    report = bm.run([MMDET_TINY], shape=(64, 64), batch=2, iters=1, warmup=0, log=lambda s: None)
    (r,) = report['results']
    assert (r['framework'], r['task'], r['model_class'], r['num_classes']) == ('mmdet', 'instances', 'MaskRCNN', 5)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(MMDET_TINY).model)
    assert r['params'] == sum(p.numel() for p in model.parameters())
    assert r['model_input_shape'] == [64, 64]  # already a multiple of pad_size_divisor=32
    assert r['gflops'] > 0 and r['train_images_per_s'] > 0 and r['train_peak_mem_mb'] > 0


@pytest.mark.slow
def test_tool_cli_json(run_tool, tmp_path):
    pytest.importorskip('detectron2')
    out = tmp_path / 'bench.json'
    res = run_tool('benchmark.py', D2_UNET, '--shape', 32, 32, '--batch', 1, '--iters', 1, '--warmup', 0,
                   '--no-train', '--json', out)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'GFLOPs / image' in res.stdout and 'params (M)' in res.stdout
    report = json.loads(out.read_text())
    (r,) = report['results']
    assert r['params'] == _d2_param_count(D2_UNET)
    assert 'train_images_per_s' not in r and report['settings']['train'] is False


@pytest.mark.slow
def test_tool_bad_input(run_tool, tmp_path):
    res = run_tool('benchmark.py', tmp_path / 'nope.py', '--shape', 32, 32)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith('error: config not found')


def test_bad_arguments():
    from segclassics.engine.errors import UserError
    with pytest.raises(UserError, match='H, W >= 16'):
        bm.run([D2_UNET], shape=(8, 8), batch=1)
    with pytest.raises(UserError, match='one or two configs'):
        bm.run([D2_UNET] * 3, shape=(32, 32), batch=1)
    with pytest.raises(UserError, match='--batch >= 1'):
        bm.run([D2_UNET], shape=(32, 32), batch=0)
