"""dev/mmcv_build_key.py: which mmcv build a host gets (CPU or CUDA ops) and its cache key.

No GPU here, so the decision is tested as a table of host descriptions; the wheel inspection is
checked against binutils' ``readelf`` and against mmcv's own report of the installed build.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mmcv_build_key", REPO / "dev" / "mmcv_build_key.py")
mbk = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = mbk  # dataclasses look their module up while the file runs
_spec.loader.exec_module(mbk)

THIS_MACHINE = mbk.Host(
    python_tag="cp311", platform="linux_x86_64", torch="2.14.1+cu130", torch_cuda="13.0", gpus=(), nvcc="13.0"
)
H200_HOST = mbk.Host(
    python_tag="cp311", platform="linux_x86_64", torch="2.14.1+cu130", torch_cuda="13.0", gpus=("9.0",), nvcc="13.0"
)
PREFIX = "mmcv2.1.0-cp311-linux_x86_64-torch2.14.1"


def with_(host, **changes):
    return mbk.Host(**{**host.__dict__, **changes})


@pytest.mark.parametrize(
    "host, ops, arch, key, why",
    [
        (THIS_MACHINE, "cpu", "", f"{PREFIX}-cu130-cpuops", "no GPU is visible to torch"),
        (H200_HOST, "cuda", "9.0", f"{PREFIX}-cu130-cudaops-sm90", None),
        (with_(H200_HOST, gpus=("9.0", "8.0", "9.0")), "cuda", "8.0;9.0", f"{PREFIX}-cu130-cudaops-sm80.sm90", None),
        (
            with_(H200_HOST, torch="2.14.1+cpu", torch_cuda=None, gpus=()),
            "cpu",
            "",
            f"{PREFIX}-cpu-cpuops",
            "torch 2.14.1+cpu is not a CUDA build",
        ),
        (with_(H200_HOST, nvcc=None), "cpu", "", f"{PREFIX}-cu130-cpuops", "no nvcc was found"),
        (
            with_(H200_HOST, nvcc="12.4"),
            "cpu",
            "",
            f"{PREFIX}-cu130-cpuops",
            "nvcc is CUDA 12.4 but torch was built with CUDA 13.0",
        ),
        (with_(H200_HOST, nvcc="13.1"), "cuda", "9.0", f"{PREFIX}-cu130-cudaops-sm90", None),
        (with_(THIS_MACHINE, arch_list="9.0+PTX"), "cuda", "9.0+PTX", f"{PREFIX}-cu130-cudaops-sm90+ptx", None),
        (with_(H200_HOST, arch_list="8.0 9.0"), "cuda", "8.0 9.0", f"{PREFIX}-cu130-cudaops-sm80.sm90", None),
        (
            with_(H200_HOST, torch="2.5.1", torch_cuda="12.4", nvcc="12.6"),
            "cuda",
            "9.0",
            "mmcv2.1.0-cp311-linux_x86_64-torch2.5.1-cu124-cudaops-sm90",
            None,
        ),
        (
            with_(THIS_MACHINE, torch="2.14.1+git1a2b3c", python_tag="cp310"),
            "cpu",
            "",
            "mmcv2.1.0-cp310-linux_x86_64-torch2.14.1+git1a2b3c-cu130-cpuops",
            "no GPU is visible",
        ),
    ],
    ids=[
        "this-machine",
        "h200",
        "two-archs",
        "cpu-torch",
        "no-nvcc",
        "nvcc-major-differs",
        "nvcc-minor-differs",
        "arch-list-without-gpu",
        "arch-list-wins",
        "older-torch",
        "custom-torch-build",
    ],
)
def test_decision_table(host, ops, arch, key, why):
    build = mbk.decide("2.1.0", host)
    assert (build.ops, build.arch_list, build.key) == (ops, arch, key)
    if why is None:
        assert build.warning is None
    else:
        assert why in build.warning and "on a GPU host run this set-up there" in build.warning


def test_cpu_and_cuda_builds_never_share_a_key():
    cpu, cuda = mbk.decide("2.1.0", THIS_MACHINE), mbk.decide("2.1.0", H200_HOST)
    assert cpu.key != cuda.key and cpu.key.endswith("-cpuops") and "-cudaops-" in cuda.key


def test_nvcc_release_is_read_from_its_version_text():
    text = (
        "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2025 NVIDIA Corporation\n"
        "Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler.36424714_0\n"
    )
    assert mbk.nvcc_release(text) == "13.0"
    assert mbk.nvcc_release("command not found") is None


@pytest.mark.slow
def test_shell_output_of_this_host():
    """The script's output is what setup_env.sh evals: three assignments, the decision of this host."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "dev" / "mmcv_build_key.py"), "--mmcv", "2.1.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert sorted(values) == ["MMCV_ARCH", "MMCV_KEY", "MMCV_OPS"]
    expected = mbk.decide("2.1.0", mbk.probe())
    assert values["MMCV_KEY"] == expected.key and values["MMCV_OPS"] == expected.ops
    assert (proc.stderr.startswith("warning: mmcv 2.1.0 is built with CPU ops only")) == (expected.ops == "cpu")


# ----------------------------------------------------------------------------- built wheels

TORCH_LIB = Path(torch.__file__).parent / "lib"


def _readelf_needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf is not installed")
@pytest.mark.parametrize("name", ["libc10.so", "libc10_cuda.so"])
def test_needed_libraries_match_readelf(name):
    path = TORCH_LIB / name
    if not path.exists():
        pytest.skip(f"{path} is absent (a CPU build of torch has no CUDA libraries)")
    assert mbk.needed_libraries(path.read_bytes()) == _readelf_needed(path)


def fake_mmcv_wheel(folder: Path, ext_from: Path, name="mmcv-2.1.0-cp311-cp311-linux_x86_64.whl") -> Path:
    """A wheel whose compiled ops file is a copy of ``ext_from`` (only its links are read)."""
    wheel = folder / name
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mmcv/__init__.py", "")
        z.write(ext_from, "mmcv/_ext.cpython-311-x86_64-linux-gnu.so")
    return wheel


@pytest.fixture
def cpu_and_cuda_wheels(tmp_path):
    cuda_lib = TORCH_LIB / "libc10_cuda.so"
    if not cuda_lib.exists():
        pytest.skip(f"{cuda_lib} is absent (a CPU build of torch has no CUDA libraries)")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cuda").mkdir()
    return fake_mmcv_wheel(tmp_path / "cpu", TORCH_LIB / "libc10.so"), fake_mmcv_wheel(tmp_path / "cuda", cuda_lib)


def test_ops_of_wheel_reads_the_links_of_its_compiled_ops(cpu_and_cuda_wheels, tmp_path):
    cpu, cuda = cpu_and_cuda_wheels
    assert (mbk.ops_of_wheel(str(cpu)), mbk.ops_of_wheel(str(cuda))) == ("cpu", "cuda")
    lite = tmp_path / "mmcv_lite-2.1.0-py3-none-any.whl"
    with zipfile.ZipFile(lite, "w") as z:
        z.writestr("mmcv/__init__.py", "")
    with pytest.raises(ValueError, match="has no compiled ops"):
        mbk.ops_of_wheel(str(lite))


def test_installed_mmcv_ops_kind_agrees_with_mmcv(tmp_path):
    """The installed mmcv's own ``_ext`` library, read as a wheel, is what mmcv says it was built with."""
    mmcv = pytest.importorskip("mmcv")
    from mmcv.ops import get_compiling_cuda_version

    ext = next(Path(mmcv.__file__).parent.glob("_ext*.so"))
    wheel = fake_mmcv_wheel(tmp_path, ext)
    assert mbk.ops_of_wheel(str(wheel)) == ("cpu" if get_compiling_cuda_version() == "not available" else "cuda")


def test_legacy_wheel_is_adopted_only_when_it_is_this_hosts_build(cpu_and_cuda_wheels, tmp_path):
    cpu, cuda = cpu_and_cuda_wheels
    assert mbk.adoptable(str(cpu), "2.1.0", THIS_MACHINE) == (
        True,
        "CPU ops for the same mmcv, Python, platform and torch",
    )
    refusals = [
        (cpu, "2.1.0", H200_HOST, "this host builds CUDA ops"),
        (cpu, "2.1.0", with_(THIS_MACHINE, torch="2.13.0+cu130"), "built against torch 2.14.1"),
        (cpu, "2.1.0", with_(THIS_MACHINE, python_tag="cp312"), "Python tag cp311, wanted cp312"),
        (cpu, "2.2.0", THIS_MACHINE, "mmcv 2.1.0, wanted 2.2.0"),
        (cuda, "2.1.0", THIS_MACHINE, "its compiled ops link CUDA libraries"),
    ]
    for wheel, mmcv, host, why in refusals:
        ok, reason = mbk.adoptable(str(wheel), mmcv, host)
        assert not ok and why in reason, (host, reason)
