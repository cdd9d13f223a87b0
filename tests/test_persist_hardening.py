"""Program files under stress: killed writers, forged content with a valid checksum, altered
headers, old formats, and the temporary files that interrupted saves leave."""

import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram import ProgramFileError
from snn_neurram._io import remove_stale_temps

MAGIC = b"SNNNEURRAM PROGRAM\n"
FORMAT = 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sn.__file__)))

# builds the two programs; run by the killed child processes and by the test itself
BUILD = '''
import numpy as np
import snn_neurram as sn


def build(which):
    """Program A or B: two small Dense layers on a 2-core chip (each compiles in ~0.1 s)."""
    seed = {"A": 1, "B": 2}[which]
    rng = np.random.default_rng(seed)
    model = sn.Sequential(sn.Dense(rng.standard_normal((16, 8)), rng.standard_normal(8), "relu"),
                          sn.Dense(rng.standard_normal((8, 4)), rng.standard_normal(4),
                                   "linear"))
    return sn.compile(model, sn.Chip(2, seed=seed), calibration=rng.uniform(0, 1, (8, 16)))
'''

CHILD = BUILD + '''
import sys

path = sys.argv[1]
programs = [build("A"), build("B")]
print("ready", flush=True)
sys.stdin.readline()                    # wait for "go": the test starts the next child early
i = 0
while True:
    programs[i % 2].save(path)
    print("saved", "AB"[i % 2], flush=True)
    i += 1
'''


def _build(which):
    ns = {}
    exec(BUILD, ns)
    return ns["build"](which)


def _host_tag():
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _state_digest(program):
    """Hash of everything a loaded program computes with: conductances, pulses, blocks, plans."""
    h = hashlib.sha256()
    plan = program.plan
    for core in plan.chip.cores:
        for a in (core.G_programmed, core.G, core.pulses, core.converged, core._z, core.targets):
            h.update(np.ascontiguousarray(a).tobytes())
        for b in core.blocks:
            h.update(repr((b.row, b.col, b.neuron, b.mapping.w_max, b.mapping.n_bias_rows,
                           b.mapping.x_max)).encode())
            h.update(b.mapping.g_plus.tobytes() + b.mapping.g_minus.tobytes())
    for p in plan.plans:
        h.update(repr([(blk.r0, blk.r1, blk.c0, blk.c1, blk.pairs, blk.placements)
                       for blk in p.blocks]).encode())
        h.update(repr((p.x_max, p.w_max, p.out_top, p.adc_top)).encode())
        h.update(np.ascontiguousarray(p.calib_rows).tobytes())
    for layer in plan.layers:
        h.update(layer.W.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def programs():
    return {"A": _build("A"), "B": _build("B")}


@pytest.fixture(scope="module")
def references(programs, tmp_path_factory):
    """Per program: (sha256 of its file, digest of its loaded state)."""
    folder = tmp_path_factory.mktemp("ref")
    refs = {}
    for name, prog in programs.items():
        path = folder / f"{name}.snn"
        prog.save(path)
        refs[name] = (hashlib.sha256(path.read_bytes()).hexdigest(), _state_digest(sn.load(path)))
    assert refs["A"] != refs["B"]
    return refs


# ---------------------------------------------------------------------------- save / kill
def test_killed_saves_leave_a_whole_file_and_no_lasting_temp_files(tmp_path, programs,
                                                                   references):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    work = tmp_path / "work"
    work.mkdir()
    check = tmp_path / "check"
    check.mkdir()
    path = work / "prog.snn"
    programs["A"].save(path)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rng = np.random.default_rng(20240601)
    by_file = {digest: name for name, (digest, _) in references.items()}
    t0 = time.monotonic()
    n_kills, saves, debris, seen = 20, 0, 0, set()

    def spawn():
        return subprocess.Popen([sys.executable, str(script), str(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    # the next children import and compile while one runs (a start takes ~1 s)
    waiting = [spawn() for _ in range(3)]
    try:
        for k in range(n_kills):
            child = waiting.pop(0)
            if k + len(waiting) + 1 < n_kills:
                waiting.append(spawn())
            try:
                line = child.stdout.readline()
                assert line == "ready\n", f"the child failed: {line!r} {child.stderr.read()}"
                child.stdin.write("go\n")
                child.stdin.flush()
                time.sleep(rng.uniform(0.05, 0.6))
            finally:
                child.kill()             # SIGKILL: no handler, no cleanup in the child
                out, _ = child.communicate(timeout=30)
            saves += out.count("saved")
            # the dead writer's temporary file (if the kill hit a save) is still there
            temps = [p.name for p in work.iterdir() if p.name != "prog.snn"]
            debris += bool(temps)
            assert all(re.fullmatch(r"\.prog\.snn\.tmp-[0-9a-f]{8}-%d-\w+" % child.pid, t)
                       for t in temps), temps
            data = path.read_bytes()
            name = by_file.get(hashlib.sha256(data).hexdigest())
            assert name is not None, f"kill {k}: the file is neither A nor B"
            seen.add(name)
            if k % 2:
                loaded = sn.load(path)           # this load removes the dead writer's temp file
                assert [p.name for p in work.iterdir()] == ["prog.snn"]
            else:                                # leave it for the save below to remove
                (check / "copy.snn").write_bytes(data)
                loaded = sn.load(check / "copy.snn")
            assert _state_digest(loaded) == references[name][1]
            programs["AB"[k % 2]].save(path)
            assert [p.name for p in work.iterdir()] == ["prog.snn"]
    finally:
        for other in waiting:
            other.kill()
            other.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    print(f"\n{n_kills} kills in {elapsed:.1f} s, {saves} completed saves in the children, "
          f"{debris} kills left a temporary file, files seen: {sorted(seen)}")
    assert saves > n_kills               # the kills fell in the middle of the save loop


# ---------------------------------------------------------------------------- temporary files
def test_temp_file_names_carry_the_target_and_the_writer(tmp_path, programs, monkeypatch):
    path = tmp_path / "prog.snn"
    names = []
    real_replace = os.replace

    def spy(src, dst):
        names.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    programs["A"].save(path)
    assert len(names) == 1
    assert re.fullmatch(r"\.prog\.snn\.tmp-%s-%d-\w+" % (_host_tag(), os.getpid()), names[0])


@pytest.mark.parametrize("by", ["save", "load"])
def test_stale_temp_files_of_dead_writers_go_and_live_ones_stay(tmp_path, programs, by):
    path = tmp_path / "prog.snn"
    programs["A"].save(path)
    host, dead = _host_tag(), _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        files = {
            "dead": f".prog.snn.tmp-{host}-{dead}-abc123_x",
            "live": f".prog.snn.tmp-{host}-{live.pid}-abc123_x",
            "mine": f".prog.snn.tmp-{host}-{os.getpid()}-abc123_x",
            "other host": f".prog.snn.tmp-{'0' * 8 if host != '0' * 8 else '1' * 8}-{dead}-ab",
            "other target": f".other.snn.tmp-{host}-{dead}-abc123_x",
            "old, unused": ".tmp-abcd1234prog.snn",
            "old, recent": ".tmp-wxyz9876prog.snn",
        }
        for name in files.values():
            (tmp_path / name).write_bytes(b"partial")
        hour_ago = time.time() - 7200
        os.utime(tmp_path / files["old, unused"], (hour_ago, hour_ago))
        if by == "save":
            programs["B"].save(path)
        else:
            sn.load(path)
        left = {p.name for p in tmp_path.iterdir()}
        gone = {k for k, name in files.items() if name not in left}
        assert gone == {"dead", "old, unused"}
        assert "prog.snn" in left
    finally:
        live.kill()
        live.wait()
    # once the writer has gone, its file goes too
    assert remove_stale_temps(path) == [str(tmp_path / files["live"])]


def test_a_failed_write_removes_its_temp_file_and_keeps_the_old_file(tmp_path, programs,
                                                                     monkeypatch):
    path = tmp_path / "prog.snn"
    programs["A"].save(path)
    before = path.read_bytes()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        programs["B"].save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["prog.snn"]


# ---------------------------------------------------------------------------- forged files
def _unpack(path):
    data = path.read_bytes()
    end = data.index(b"\n", len(MAGIC))
    with np.load(io.BytesIO(data[end + 1:])) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays.pop("meta").tobytes()), arrays


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _forge_payload(path, payload, version=sn.__version__):
    """Write ``payload`` as a format-2 file with a valid checksum (as the format defines it)."""
    header = {"format": FORMAT, "payload_bytes": len(payload), "snn_neurram": version}
    header["sha256"] = hashlib.sha256(MAGIC + _canonical(
        {k: v for k, v in header.items() if k != "sha256"}) + b"\n" + payload).hexdigest()
    path.write_bytes(MAGIC + _canonical(header) + b"\n" + payload)


def _forge(path, meta, arrays):
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    _forge_payload(path, buf.getvalue())


def _key(arrays, prefix, n=0):
    return [k for k in arrays if k.startswith(prefix + "#")][n]


def _set_nan(arrays, prefix, n=0):
    k = _key(arrays, prefix, n)
    arrays[k] = arrays[k].copy()
    arrays[k][3, 2] = np.nan


def _cut(arrays, prefix):
    k = _key(arrays, prefix)
    arrays[k] = arrays[k][:128]


def _pulses_float(arrays):
    k = _key(arrays, "core0/pulses")
    arrays[k] = arrays[k].astype(float)


def _placement(meta, **change):
    meta["plans"][1]["blocks"][0]["placements"][0].update(change)


# each: (what is changed in (meta, arrays), what the message must say)
FORGERIES = {
    "meta lacks the chip": (lambda m, a: m.pop("chip"), r"meta: missing key 'chip'"),
    "plan lacks a key": (lambda m, a: m["plans"][0].pop("w_max"), r"plan 0: missing key 'w_max'"),
    "block lacks its mapping": (lambda m, a: m["cores"][0]["blocks"][1].pop("mapping"),
                                r"core 0 block 1: missing key 'mapping'"),
    "placement lacks its core": (lambda m, a: m["plans"][0]["blocks"][0]["placements"][0]
                                 .pop("core"), r"plan 0 block 0 placement 0: missing key 'core'"),
    "unknown key": (lambda m, a: m["plans"][0]["blocks"][0].update(extra=1),
                    r"plan 0 block 0: unknown key 'extra'"),
    "n_cores is a string": (lambda m, a: m["chip"].update(n_cores="2"),
                            r"chip: n_cores: expected an integer, found a string"),
    "cores is not a list": (lambda m, a: m.update(cores={}), r"cores: expected a list"),
    "one core too few": (lambda m, a: m["cores"].pop(), r"cores: 1 entries, expected 2"),
    "G_programmed 128 x 256": (lambda m, a: _cut(a, "core0/G_programmed"),
                               r"core 0: G_programmed: array of shape \(128, 256\), "
                               r"expected 256 x 256"),
    "G_programmed has a NaN": (lambda m, a: _set_nan(a, "core0/G_programmed"),
                               r"core 0: G_programmed: 1 value\(s\) are NaN"),
    "relaxation variates have a NaN": (lambda m, a: _set_nan(a, "core0/_z"),
                                       r"core 0: _z: 1 value\(s\) are NaN"),
    "block target has a NaN": (lambda m, a: _set_nan(a, "core0/mapping/g_plus", 1),
                               r"core 0 block 1: mapping g_plus: 1 value\(s\) are NaN"),
    "pulses are floats": (lambda m, a: _pulses_float(a),
                          r"core 0: pulses: array of dtype float64, expected integers"),
    "block outside the array": (lambda m, a: m["cores"][0]["blocks"][1].update(row=120),
                                r"core 0 block 1: 9 row pairs x 4 columns from row pair 120, "
                                r"column 8 lie outside the 128 x 256 array"),
    "blocks overlap": (lambda m, a: m["cores"][0]["blocks"][1].update(col=4),
                       r"core 0 block 1: overlaps an earlier block"),
    "random state of another generator": (
        lambda m, a: m["cores"][0]["rng"].update(bit_generator="MT19937"),
        r"core 0: random state"),
    "placement on core 47": (lambda m, a: _placement(m, core=47),
                             r"plan 1 block 0 placement 0: core 47, but the chip has 2 cores"),
    "placement on a block that does not exist": (
        lambda m, a: _placement(m, block=5),
        r"plan 1 block 0 placement 0: block 5 of core 0, which holds 2 blocks"),
    "placement on an empty core": (lambda m, a: _placement(m, core=1),
                                   r"block 1 of core 1, which holds 0 blocks"),
    "placement outside the array": (lambda m, a: _placement(m, col=300),
                                    r"placement 0: col is 300, outside \[0, 255\]"),
    "placement off its block": (lambda m, a: _placement(m, col=0),
                                r"placement 0: a 9 x 4 piece .* but block 1 of core 0 is"),
    "unknown layer kind": (lambda m, a: m["model"]["layers"][1].update(type="Dense3d"),
                           r"model/layers/1 \(Dense3d 'dense\w*'\): unknown layer type 'Dense3d'"),
    "NaN weight in the model": (lambda m, a: _set_nan(a, "model/layers/0/W"),
                                r"model/layers/0 \(Dense 'dense'\): W must contain only finite"),
    "a plan too few": (lambda m, a: m["plans"].pop(),
                       r"plans: 1 layer plans for a model with 2 weighted layers"),
    "plan of another kind": (lambda m, a: m["plans"][0].update(kind="Conv2d"),
                             r"plan 0 is for a Conv2d layer, but weighted layer 0 of the model "
                             r"is a Dense"),
    "plan of another size": (lambda m, a: m["plans"][1].update(n_in=9),
                             r"plan 1 is for a 9 x 4 matrix, but weighted layer 1"),
    "NaN x_max": (lambda m, a: m["plans"][0].update(x_max=float("nan")),
                  r"plan 0: x_max is nan, not a finite number"),
    "calibration rows of the wrong width": (
        lambda m, a: a.update({_key(a, "plan/calib_rows"): np.zeros((8, 3), np.float32)}),
        r"plan 0: calib_rows: array of shape \(8, 3\), expected n x 16"),
    "missing array": (lambda m, a: a.pop(_key(a, "core0/pulses")),
                      r"refers to array 'core0/pulses#1', which the payload lacks"),
    "extra array": (lambda m, a: a.update(stowaway=np.zeros(3)),
                    r"holds array the meta does not use: 'stowaway'"),
}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_foreign_content_with_a_valid_checksum_is_refused(tmp_path, programs, case):
    saved = tmp_path / "good.snn"
    programs["A"].save(saved)
    meta, arrays = _unpack(saved)
    assert meta["chip"]["n_cores"] == 2
    assert [len(c["blocks"]) for c in meta["cores"]] == [2, 0]
    change, message = FORGERIES[case]
    change(meta, arrays)
    path = tmp_path / "forged.snn"
    _forge(path, meta, arrays)
    with pytest.raises(ProgramFileError, match=message) as info:
        sn.load(path)
    assert str(info.value).startswith(f"{path}: ")


def test_the_forgery_helper_writes_loadable_files(tmp_path, programs, references):
    saved = tmp_path / "good.snn"
    programs["A"].save(saved)
    _forge(tmp_path / "same.snn", *_unpack(saved))
    assert _state_digest(sn.load(tmp_path / "same.snn")) == references["A"][1]


@pytest.mark.parametrize("payload, message", [
    (b"not a zip archive", r"the payload is not a readable npz archive"),
    (None, r"the payload is a single array"),
    ("no meta", r"the payload has no 'meta' document"),
    ("bad meta", r"meta: not valid JSON"),
    ("meta list", r"meta: expected a JSON object, found a list"),
])
def test_payloads_that_are_no_program_are_refused(tmp_path, payload, message):
    buf = io.BytesIO()
    if payload is None:
        np.save(buf, np.zeros(3))
    elif payload == "no meta":
        np.savez(buf, x=np.zeros(3))
    elif payload == "bad meta":
        np.savez(buf, meta=np.frombuffer(b"{nope", np.uint8))
    elif payload == "meta list":
        np.savez(buf, meta=np.frombuffer(b"[1, 2]", np.uint8))
    else:
        buf.write(payload)
    path = tmp_path / "p.snn"
    _forge_payload(path, buf.getvalue())
    with pytest.raises(ProgramFileError, match=message):
        sn.load(path)


# ---------------------------------------------------------------------------- the header
def _split(path):
    data = path.read_bytes()
    end = data.index(b"\n", len(MAGIC))
    return json.loads(data[len(MAGIC):end]), data[end + 1:]


def test_every_header_field_is_under_the_checksum(tmp_path, programs):
    path = tmp_path / "p.snn"
    programs["A"].save(path)
    header, payload = _split(path)
    assert set(header) == {"format", "payload_bytes", "sha256", "snn_neurram"}
    assert path.read_bytes() == MAGIC + _canonical(header) + b"\n" + payload

    def write(h, p=payload, line=None):
        bad = tmp_path / "bad.snn"
        bad.write_bytes(MAGIC + (_canonical(h) if line is None else line) + b"\n" + p)
        return bad

    cases = [
        ({**header, "snn_neurram": "9.9.9"}, payload, r"checksum mismatch"),
        ({**header, "snn_neurram": header["snn_neurram"] + " "}, payload, r"checksum mismatch"),
        ({**header, "sha256": "0" * 64}, payload, r"checksum mismatch"),
        ({**header, "payload_bytes": len(payload) + 1}, payload + b"\0", r"checksum mismatch"),
        ({**header, "format": 3}, payload, r"file format 3.* reads format 2"),
        ({**header, "format": "2"}, payload, r"no valid format number"),
        ({**header, "note": "hi"}, payload, r"unknown field\(s\) 'note'"),
        ({k: v for k, v in header.items() if k != "snn_neurram"}, payload,
         r"missing field\(s\) 'snn_neurram'"),
    ]
    for h, p, message in cases:
        with pytest.raises(ProgramFileError, match=message):
            sn.load(write(h, p))
    # the same fields in another JSON spelling: the header line itself is checked byte by byte
    spaced = json.dumps(header, sort_keys=True).encode()
    with pytest.raises(ProgramFileError, match="canonical form"):
        sn.load(write(header, line=spaced))
    with pytest.raises(ProgramFileError, match="header is damaged"):
        sn.load(write(header, line=b"[1, 2]"))
    # a version changed with the checksum made again (what the format defines) loads
    _forge_payload(tmp_path / "rehashed.snn", payload, version="9.9.9")
    assert _split(tmp_path / "rehashed.snn")[0]["snn_neurram"] == "9.9.9"
    sn.load(tmp_path / "rehashed.snn")


def test_old_format_files_get_a_clear_error(tmp_path, programs):
    path = tmp_path / "p.snn"
    programs["A"].save(path)
    _, payload = _split(path)
    # format 1: the checksum covered the payload only, the header was spaced JSON
    header = {"format": 1, "payload_bytes": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest(), "snn_neurram": "0.1.0"}
    old = tmp_path / "old.snn"
    old.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(ProgramFileError,
                       match=r"old\.snn: file format 1 \(written by snn_neurram 0\.1\.0\), this "
                             r"version of snn_neurram \(.*\) reads format 2: compile the model "
                             r"again"):
        sn.load(old)
    with pytest.raises(ProgramFileError, match=r"no end of header line"):
        (tmp_path / "cut.snn").write_bytes(MAGIC + b'{"format":2')
        sn.load(tmp_path / "cut.snn")


def test_unseeded_chip_round_trips(tmp_path):
    """A chip made with seed=None keeps its drawn 128-bit entropy: the loaded program has the
    same cores and gives the same seeded runs."""
    r = np.random.default_rng(0)
    model = sn.Sequential(sn.Dense(r.normal(size=(6, 5)), name="h"),
                          sn.Dense(r.normal(size=(5, 3)), None, "linear", name="out"))
    prog = sn.compile(model, sn.Chip(1, seed=None), input_shape=(6,))
    assert prog.chip.seed_sequence.entropy >= 0
    path = tmp_path / "p.snn"
    prog.save(path)
    back = sn.load(path)
    assert back.chip.seed_sequence.entropy == prog.chip.seed_sequence.entropy
    x = r.uniform(0, 1, (20, 6))
    assert np.array_equal(back.run(x, seed=3), prog.run(x, seed=3))
