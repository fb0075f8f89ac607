"""Build a container image for a Python Lambda function from this machine's Python: no registry, no Docker.

AWS's ``public.ecr.aws/lambda/python`` base images hold an interpreter, its standard library and the
runtime interface client, and start ``python3 -m awslambdaric <handler>`` in ``/var/task``. This builds the
same shape from what is installed here, as an OCI image layout tarball that Cloudlet's Lambda runs
(``CreateFunction --package-type Image --code ImageUri=s3://bucket/key`` after uploading it to S3):

- layer 1, the runtime: the interpreter that runs this script (its real binary, as
  ``/usr/local/bin/python3.11``), the shared libraries it and every extension module need (found with
  ``ldd``, so whatever the build links against comes along), the standard library without what a function
  never needs (tests, IDLE, Tk, ensurepip, lib2to3, the static library), ``awslambdaric`` and its
  dependencies from this environment plus any ``--package``; ELF files are stripped when ``strip`` exists.
  Bytecode is compiled for the modules a cold start imports and for the packages (unchecked-hash pycs:
  the image is immutable, and a read-only root filesystem could never cache them), so a cold start does
  not compile Python. The layer is reproducible: the same inputs give the same digest.
- layer 2, the function: ``SOURCE_DIR`` copied to ``/var/task``.
- config: ``ENTRYPOINT ["/usr/local/bin/python3", "-m", "awslambdaric"]``, ``CMD [<handler>]``,
  ``WorkingDir /var/task`` and the environment AWS's base images set.

Run it with the Python whose packages you want in the image (its awslambdaric must be installed)::

    .venv/bin/python images/lambda/build.py SOURCE_DIR -o function.tar [--handler app.handler]
        [--package boto3 ...] [--tag NAME:TAG] [--no-strip]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PYTHON_HOME = "usr/local"
ENTRYPOINT = ["/usr/local/bin/python3", "-m", "awslambdaric"]
#: What AWS's Python base images put in their config's Env.
IMAGE_ENV = ["LANG=en_US.UTF-8", "TZ=:/etc/localtime", "PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
             "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:"
             "/opt/lib", "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime"]
#: Standard-library directories a function never imports (tests, GUIs, installers, the static library).
STDLIB_SKIP_DIRS = re.compile(r"^(test|tests|idle_test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|venv|"
                              r"site-packages|pydoc_data|__pycache__|config-.*|lib-dynload)$")
STDLIB_SKIP_EXTENSIONS = re.compile(r"^(_test|_ctypes_test|_xxtestfuzz|xxlimited|xxsubtype|_tkinter)")
#: Directories every Linux root has, which the sandbox mounts over or writes to.
EMPTY_DIRS = {"tmp": 0o1777, "var/task": 0o755, "var/runtime": 0o755, "opt": 0o755, "proc": 0o555,
              "dev": 0o755, "sys": 0o555, "etc": 0o755}
#: The loader's default directories: libraries found elsewhere (a pyenv build's libpython) go to usr/lib.
SYSTEM_LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

# Run in the target interpreter with a clean sys.modules: what an awslambdaric cold start imports, and
# the files of the distributions to ship (requirements followed, markers evaluated for this interpreter).
PROBE = r"""
import json, os, sys, sysconfig
import importlib.metadata as metadata
import awslambdaric.__main__, awslambdaric.bootstrap, awslambdaric.lambda_runtime_marshaller
loaded = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
try:
    from packaging.requirements import Requirement
except ImportError:
    Requirement = None
wanted, files, seen = list(sys.argv[1:]), [], set()
while wanted:
    name = wanted.pop()
    key = name.lower().replace("_", "-")
    if key in seen:
        continue
    seen.add(key)
    dist = metadata.distribution(name)
    files += [str(dist.locate_file(f)) for f in dist.files or []]
    for spec in dist.requires or []:
        if Requirement is not None:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                wanted.append(req.name)
        elif ";" not in spec:
            wanted.append(spec.split()[0].split("=")[0].split(">")[0].split("<")[0].split("[")[0])
site = os.path.dirname(os.path.dirname(awslambdaric.__file__))
print(json.dumps({"executable": os.path.realpath(sys._base_executable), "version": sys.version_info[:2],
                  "stdlib": sysconfig.get_path("stdlib"), "dynload": sysconfig.get_config_var("DESTSHARED"),
                  "site": site, "loaded": loaded, "files": files}))
"""


@dataclass(frozen=True)
class Entry:
    """One path in a layer: a directory, a symlink, or a file whose bytes are ``data``."""

    path: str                 # inside the image, no leading slash
    kind: str                 # dir | file | symlink
    mode: int = 0o644
    data: bytes = b""
    target: str = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the function's code, copied to /var/task")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the OCI archive")
    parser.add_argument("--handler", default="app.handler", help="the image's CMD (default app.handler)")
    parser.add_argument("--package", action="append", default=[], help="another distribution to ship (and its "
                        "requirements), e.g. boto3; repeatable")
    parser.add_argument("--tag", default="lambda-function:latest", help="the reference name in index.json")
    parser.add_argument("--no-strip", action="store_true", help="keep symbols in ELF files")
    args = parser.parse_args()
    if not args.source.is_dir():
        parser.error(f"{args.source} is not a directory")
    sizes = build(args.source, args.output, handler=args.handler, packages=args.package, tag=args.tag,
                  strip=not args.no_strip and shutil.which("strip") is not None)
    print(f"{args.output}: runtime layer {sizes[0] / 1e6:.1f} MB, function layer {sizes[1] / 1e3:.1f} kB "
          f"(gzip), {args.handler}")


def build(source: Path, output: Path, *, handler: str = "app.handler", packages: tuple[str, ...] | list[str] = (),
          tag: str = "lambda-function:latest", strip: bool = True) -> tuple[int, int]:
    """Write the image archive; returns the compressed sizes of its two layers."""
    facts = json.loads(subprocess.run([sys.executable, "-c", PROBE, "awslambdaric", *packages], check=True,
                                      capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as scratch:
        runtime = runtime_entries(facts, Path(scratch), strip)
    function = [Entry("var", "dir", 0o755), Entry("var/task", "dir", 0o755), *tree_entries(source, "var/task")]
    layers = [layer_blob(runtime), layer_blob(function)]
    write_oci(output, layers, handler, tag)
    return len(layers[0][1]), len(layers[1][1])


# ---------------------------------------------------------------------------------------------------------
# What goes in


def runtime_entries(facts: dict, scratch: Path, strip: bool) -> list[Entry]:
    version = "{}.{}".format(*facts["version"])
    lib = f"{PYTHON_HOME}/lib/python{version}"
    files: dict[str, Path] = {f"{PYTHON_HOME}/bin/python{version}": Path(facts["executable"])}
    stdlib, dynload, site = Path(facts["stdlib"]), Path(facts["dynload"]), Path(facts["site"])
    for path in sorted(walk(stdlib, STDLIB_SKIP_DIRS)):
        files[f"{lib}/{path.relative_to(stdlib).as_posix()}"] = path
    for path in sorted(dynload.glob("*.so")):
        if not STDLIB_SKIP_EXTENSIONS.match(path.name):
            files[f"{lib}/lib-dynload/{path.name}"] = path
    for name in facts["files"]:
        path = Path(os.path.normpath(name))  # RECORD may name ../../bin/... scripts: those stay out
        if path.is_relative_to(site) and "__pycache__" not in path.parts and path.is_file():
            files[f"{lib}/site-packages/{path.relative_to(site).as_posix()}"] = path
    libraries = shared_libraries([p for p in files.values() if is_elf(p)])
    files.update(libraries)

    entries = [Entry(f"{PYTHON_HOME}/bin/python3", "symlink", target=f"python{version}"),
               Entry(f"{PYTHON_HOME}/bin/python", "symlink", target=f"python{version}"),
               *[Entry(path, "dir", mode) for path, mode in EMPTY_DIRS.items()]]
    sources = {os.path.normpath(host): image for image, host in files.items()}
    for image_path, host in files.items():
        data = stripped(host, scratch) if strip and is_elf(host) else host.read_bytes()
        mode = 0o755 if is_elf(host) and os.access(host, os.X_OK) else 0o644
        entries.append(Entry(image_path, "file", mode, data))
    warm = [Path(p) for p in facts["loaded"]] + [p for p in files.values() if p.is_relative_to(site)]
    entries += bytecode(warm, sources)
    return with_parents(entries)


def walk(root: Path, skip_dirs: re.Pattern[str]) -> list[Path]:
    """The files under ``root`` (symlinks to files included), skipping directories ``skip_dirs`` names."""
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not skip_dirs.match(d)]
        found += [Path(directory, n) for n in names
                  if Path(directory, n).is_file() and not n.endswith((".pyc", ".exe"))]
    return found


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def shared_libraries(binaries: list[Path]) -> dict[str, Path]:
    """Every library ``binaries`` load (ldd resolves the whole tree), by where the image keeps it."""
    found: dict[str, Path] = {}
    for binary in binaries:
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            match = re.match(r"\s*(?:(\S+) => )?(/\S+) \(0x", line)
            if not match:
                continue
            name, resolved = match.group(1), match.group(2)
            if resolved.startswith(SYSTEM_LIB_DIRS):
                image_path = resolved.lstrip("/")
            else:  # a private prefix (pyenv's libpython): a directory the loader searches by default
                image_path = f"usr/lib/{name or Path(resolved).name}"
            found[image_path] = Path(resolved).resolve()
    return found


def stripped(path: Path, scratch: Path) -> bytes:
    out = scratch / "stripped"
    if subprocess.run(["strip", "--strip-unneeded", "-o", str(out), str(path)], capture_output=True).returncode:
        return path.read_bytes()  # not something strip understands: ship it as it is
    return out.read_bytes()


def bytecode(modules: list[Path], sources: dict[str, str]) -> list[Entry]:
    """Unchecked-hash pycs for ``modules`` that the image ships, named as the interpreter looks them up."""
    entries = []
    tag = sys.implementation.cache_tag
    with tempfile.TemporaryDirectory() as scratch:
        for module in sorted(set(modules)):
            image_path = sources.get(os.path.normpath(module))
            if image_path is None or module.suffix != ".py":
                continue
            cfile = Path(scratch, "out.pyc")
            try:
                py_compile.compile(str(module), cfile=str(cfile), dfile="/" + image_path, doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            except py_compile.PyCompileError:
                continue  # a file Python cannot compile is not importable anyway (e.g. py2-only test data)
            folder, name = image_path.rsplit("/", 1)
            entries.append(Entry(f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc", "file", 0o644,
                                 cfile.read_bytes()))
    return entries


def tree_entries(source: Path, prefix: str) -> list[Entry]:
    entries = []
    for path in sorted(source.rglob("*")):
        image_path = f"{prefix}/{path.relative_to(source).as_posix()}"
        if path.is_symlink():
            entries.append(Entry(image_path, "symlink", target=os.readlink(path)))
        elif path.is_dir():
            entries.append(Entry(image_path, "dir", 0o755))
        elif "__pycache__" not in path.parts:
            entries.append(Entry(image_path, "file", 0o755 if os.access(path, os.X_OK) else 0o644,
                                 path.read_bytes()))
    return entries


def with_parents(entries: list[Entry]) -> list[Entry]:
    """``entries`` plus a directory entry for every parent not already listed, in path order."""
    listed = {e.path for e in entries}
    parents = {str(Path(e.path).parent) for e in entries}
    while parents:
        parent = parents.pop()
        if parent not in (".", "") and parent not in listed:
            listed.add(parent)
            entries.append(Entry(parent, "dir", 0o755))
            parents.add(str(Path(parent).parent))
    return sorted(entries, key=lambda e: e.path)


# ---------------------------------------------------------------------------------------------------------
# The OCI image layout


def layer_blob(entries: list[Entry]) -> tuple[str, bytes]:
    """A reproducible layer: (diff_id of the tar, gzip of the tar)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime, info.mode, info.uid, info.gid = EPOCH, entry.mode, 0, 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    raw = buffer.getvalue()
    return "sha256:" + hashlib.sha256(raw).hexdigest(), gzip.compress(raw, compresslevel=6, mtime=0)


def write_oci(output: Path, layers: list[tuple[str, bytes]], handler: str, tag: str) -> None:
    blobs: dict[str, bytes] = {}

    def descriptor(media_type: str, data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        blobs[f"blobs/sha256/{digest}"] = data
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    config = {"architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
              "os": "linux",
              "config": {"Entrypoint": ENTRYPOINT, "Cmd": [handler], "WorkingDir": "/var/task", "Env": IMAGE_ENV},
              "rootfs": {"type": "layers", "diff_ids": [diff_id for diff_id, _ in layers]},
              "history": [{"created_by": "images/lambda/build.py: python runtime and awslambdaric"},
                          {"created_by": "images/lambda/build.py: COPY function code to /var/task"}]}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptor("application/vnd.oci.image.config.v1+json", canonical(config)),
                "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", blob) for _, blob in layers]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{**descriptor("application/vnd.oci.image.manifest.v1+json", canonical(manifest)),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": canonical(index), **blobs}
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    partial.replace(output)


def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


if __name__ == "__main__":
    main()
