#!/usr/bin/env python
"""How scripts/setup_env.sh builds mmcv on this host, and the wheel-cache key of that build.

mmcv's compiled ops come in two kinds: CPU only, or CPU + CUDA. A CUDA build needs all of

* a CUDA build of torch (``torch.version.cuda`` set),
* an ``nvcc`` of the same CUDA major version (torch refuses to build extensions across majors),
* a target GPU architecture: the visible GPUs' compute capabilities, or ``TORCH_CUDA_ARCH_LIST``
  set by the user (to build on a GPU-less build host for a known GPU).

Otherwise the build has CPU ops only, and a warning says why and that a GPU host needs its own
build. The cache key names everything the wheel depends on -- mmcv version, Python tag,
platform, torch version, torch's CUDA version (or ``cpu``) and the ops kind with the GPU
architectures -- so a CPU-ops wheel is never picked up on a GPU host, nor a wheel built against
another torch.

    python dev/mmcv_build_key.py --mmcv 2.1.0
        probe this interpreter's torch, the visible GPUs and nvcc; print shell assignments
        MMCV_KEY=... MMCV_OPS=cpu|cuda MMCV_ARCH=... (warnings go to stderr)
    python dev/mmcv_build_key.py --mmcv 2.1.0 --adopt WHEEL
        exit 0 if WHEEL, an mmcv wheel from the older unkeyed cache, is this host's build
    python dev/mmcv_build_key.py --ops-of WHEEL
        print 'cpu' or 'cuda': the ops kind of a built mmcv wheel (from its libraries' links)
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

# The unkeyed cache ($WHEELS/mmcv-<version>-*.whl) was only ever filled by set-ups that pinned
# this torch and built CPU ops, so such a wheel is adoptable exactly when the host wants that.
LEGACY_TORCH = "2.14.1"
CUDA_LIBRARIES = ("libcudart", "libc10_cuda", "libtorch_cuda")


@dataclass(frozen=True)
class Host:
    python_tag: str  # 'cp311'
    platform: str  # 'linux_x86_64'
    torch: str  # torch.__version__, e.g. '2.14.1+cu130'
    torch_cuda: Optional[str]  # torch.version.cuda, e.g. '13.0'; None for a CPU (or ROCm) torch
    gpus: Tuple[str, ...] = ()  # compute capability of each visible GPU, e.g. ('9.0',)
    nvcc: Optional[str] = None  # release of the nvcc a build would use, e.g. '13.0'
    arch_list: Optional[str] = None  # TORCH_CUDA_ARCH_LIST as set by the user


@dataclass(frozen=True)
class Build:
    ops: str  # 'cuda' or 'cpu'
    arch_list: str  # TORCH_CUDA_ARCH_LIST for a CUDA build; '' for CPU ops
    key: str  # wheel-cache folder name
    warning: Optional[str]  # why the build has CPU ops only (None for a CUDA build)


def _major(version: str) -> str:
    return version.split(".")[0]


def cuda_tag(torch_cuda: Optional[str]) -> str:
    """'13.0' -> 'cu130', None -> 'cpu' (the tags of PyTorch's own wheel indexes)."""
    return "cpu" if not torch_cuda else "cu" + "".join(torch_cuda.split(".")[:2])


def _arch_tag(arch_list: str) -> str:
    """'8.0;9.0+PTX' -> 'sm80.sm90+ptx'."""
    archs = [a for a in re.split(r"[;\s,]+", arch_list.strip()) if a]
    return ".".join("sm" + a.lower().replace(".", "") for a in archs)


def _cpu_reason(host: Host) -> Optional[str]:
    if not host.torch_cuda:
        return f"torch {host.torch} is not a CUDA build"
    if not host.nvcc:
        return "no nvcc was found (looked in $CUDA_HOME, $CUDA_PATH, PATH and /usr/local/cuda)"
    if _major(host.nvcc) != _major(host.torch_cuda):
        return (
            f"nvcc is CUDA {host.nvcc} but torch was built with CUDA {host.torch_cuda} "
            f"(torch builds extensions only with the same CUDA major version)"
        )
    if not host.gpus and not host.arch_list:
        return "no GPU is visible to torch and TORCH_CUDA_ARCH_LIST is not set"
    return None


def decide(mmcv: str, host: Host) -> Build:
    """The build this host gets (pure function of its description; see module docstring)."""
    reason = _cpu_reason(host)
    if reason is None:
        arch_list = host.arch_list or ";".join(sorted(set(host.gpus), key=lambda a: tuple(map(int, a.split(".")))))
        ops, ops_tag, warning = "cuda", "cudaops-" + _arch_tag(arch_list), None
    else:
        arch_list, ops, ops_tag = "", "cpu", "cpuops"
        warning = (
            f"mmcv {mmcv} is built with CPU ops only: {reason}. Its ops then refuse CUDA tensors; "
            f"on a GPU host run this set-up there (with the GPU visible and nvcc installed) to build "
            f"and cache a separate CUDA-ops wheel."
        )
    base, _, local = host.torch.partition("+")
    tag = cuda_tag(host.torch_cuda)
    torch_part = f"torch{base}" + (f"+{local}" if local and local not in (tag, "cpu") else "")
    key = "-".join([f"mmcv{mmcv}", host.python_tag, host.platform, torch_part, tag, ops_tag])
    return Build(ops=ops, arch_list=arch_list, key=key, warning=warning)


# ----------------------------------------------------------------------------- probing


def nvcc_path() -> Optional[str]:
    """The nvcc torch's extension builder would use (its CUDA_HOME search order)."""
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            candidate = os.path.join(os.environ[env], "bin", "nvcc")
            return candidate if os.path.isfile(candidate) else None
    return shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.isfile("/usr/local/cuda/bin/nvcc") else None)


def nvcc_release(text: str) -> Optional[str]:
    """'... Cuda compilation tools, release 13.0, V13.0.88' -> '13.0'."""
    m = re.search(r"release (\d+\.\d+)", text)
    return m.group(1) if m else None


def python_tag() -> str:
    impl = sys.implementation.name
    prefix = {"cpython": "cp", "pypy": "pp"}.get(impl, impl)
    return f"{prefix}{sys.version_info.major}{sys.version_info.minor}"


def probe() -> Host:
    """Describe this interpreter's host (imports torch)."""
    import torch

    gpus: Tuple[str, ...] = ()
    if torch.version.cuda and torch.cuda.is_available():
        gpus = tuple("%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
    nvcc = nvcc_path()
    release = None
    if nvcc:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60)
        release = nvcc_release(out.stdout)
    return Host(
        python_tag=python_tag(),
        platform=sysconfig.get_platform().replace("-", "_").replace(".", "_"),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        gpus=gpus,
        nvcc=release,
        arch_list=os.environ.get("TORCH_CUDA_ARCH_LIST") or None,
    )


# ----------------------------------------------------------------------------- built wheels


def needed_libraries(elf: bytes) -> List[str]:
    """DT_NEEDED entries (linked shared libraries) of a 64-bit little-endian ELF file."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    # Elf64_Shdr: name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    needed = []
    for section in sections:
        if section[1] != 6:  # SHT_DYNAMIC
            continue
        strings = sections[section[6]][4]
        for entry in range(section[4], section[4] + section[5], 16):
            tag, value = struct.unpack_from("<qQ", elf, entry)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                start = strings + value
                needed.append(elf[start : elf.index(b"\0", start)].decode())
    return needed


def ops_of_wheel(wheel: str) -> str:
    """'cuda' if the wheel's compiled ops link a CUDA library, 'cpu' if they do not."""
    with zipfile.ZipFile(wheel) as z:
        exts = [n for n in z.namelist() if re.fullmatch(r"mmcv/_ext[^/]*\.so", n)]
        if not exts:
            raise ValueError(f"{wheel} has no compiled ops (mmcv/_ext*.so): it is not a full mmcv build")
        needed = [lib for n in exts for lib in needed_libraries(z.read(n))]
    return "cuda" if any(lib.startswith(CUDA_LIBRARIES) for lib in needed) else "cpu"


def adoptable(wheel: str, mmcv: str, host: Host) -> Tuple[bool, str]:
    """Whether an unkeyed (legacy-cache) wheel is exactly the build this host would make."""
    m = re.fullmatch(r"mmcv-(?P<v>[^-]+)-(?P<py>[^-]+)-[^-]+-(?P<plat>.+)\.whl", os.path.basename(wheel))
    if not m:
        return False, "not an mmcv wheel file name"
    build = decide(mmcv, host)
    checks = [
        (m["v"] == mmcv, f"mmcv {m['v']}, wanted {mmcv}"),
        (m["py"] == host.python_tag, f"Python tag {m['py']}, wanted {host.python_tag}"),
        (m["plat"] == host.platform, f"platform {m['plat']}, wanted {host.platform}"),
        (
            host.torch.partition("+")[0] == LEGACY_TORCH,
            f"unkeyed wheels were built against torch {LEGACY_TORCH}, this host has {host.torch}",
        ),
        (build.ops == "cpu", "this host builds CUDA ops; unkeyed wheels have CPU ops"),
    ]
    for ok, why in checks:
        if not ok:
            return False, why
    ops = ops_of_wheel(wheel)
    if ops != "cpu":
        return False, "its compiled ops link CUDA libraries"
    return True, "CPU ops for the same mmcv, Python, platform and torch"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mmcv", help="mmcv version to build, e.g. 2.1.0")
    parser.add_argument("--adopt", metavar="WHEEL", help="check an unkeyed wheel against this host's build")
    parser.add_argument("--ops-of", metavar="WHEEL", help="print the ops kind (cpu/cuda) of an mmcv wheel")
    args = parser.parse_args(argv)
    if args.ops_of:
        print(ops_of_wheel(args.ops_of))
        return 0
    if not args.mmcv:
        parser.error("--mmcv is required")
    host = probe()
    if args.adopt:
        ok, why = adoptable(args.adopt, args.mmcv, host)
        print(f"{'adopting' if ok else 'not adopting'} {args.adopt}: {why}", file=sys.stderr)
        return 0 if ok else 1
    build = decide(args.mmcv, host)
    if build.warning:
        print(f"warning: {build.warning}", file=sys.stderr)
    for name, value in (("MMCV_KEY", build.key), ("MMCV_OPS", build.ops), ("MMCV_ARCH", build.arch_list)):
        print(f"{name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
