"""QAT sweep on the GPU: a pilot sizes each config's epochs to the time left, then all run side by side."""
import json, math, os, subprocess, sys, tarfile, time
OUT = os.environ.get("OUT", "/tmp/out"); os.makedirs(OUT, exist_ok=True)
T0 = time.time()
DEADLINE = float(sys.argv[1])          # seconds after start by which training must end
WORK = "/tmp/gpu-runs"; os.makedirs(WORK, exist_ok=True)
BASE = [sys.executable, ".gpu/sf.py", "train", "--model", "benchmarks/cards/snn-tutorial-conv.toml", "--rule", "bp",
        "--seed", "0", "--qat", "int8-edge", "--state-bits", "4", "--init-from", "runs/f15/conv-bp-e2-seed0",
        "--dataset", "mnist", "--data-dir", ".gpu/mnist", "--align-every", "0", "--no-progress", "--device", os.environ.get("SWEEP_DEVICE", "cuda")]
CONFIGS = {"b128-lr4e-4": (128, 4e-4), "b256-lr4e-4": (256, 4e-4), "b512-lr6e-4": (512, 6e-4),
           "b1024-lr8e-4": (1024, 8e-4), "b2048-lr1e-3": (2048, 1e-3)}
env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")

def launch(tag, name, extra):
    b, lr = CONFIGS[name]
    out = f"{WORK}/{tag}-{name}"
    log = open(f"{WORK}/{tag}-{name}.log", "w")
    cmd = BASE + ["--batch-size", str(b), "--lr", str(lr), "--out", out] + extra
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), out

def wait(procs, until):
    while any(p.poll() is None for p, _ in procs.values()) and time.time() - T0 < until:
        time.sleep(2)
    for p, _ in procs.values():
        if p.poll() is None:
            p.kill()

def pack():
    with tarfile.open(f"{OUT}/runs.tgz", "w:gz") as t:
        t.add(WORK, arcname="gpu-runs")

report = {"t_start": T0}
pilot = {n: launch("pilot", n, ["--limit-train", os.environ.get("PILOT", "10240"), "--limit-eval", "1000", "--epochs", "1"]) for n in CONFIGS}
wait(pilot, DEADLINE)
est = {}
for n, (p, out) in pilot.items():
    try:
        s = json.load(open(f"{out}/summary.json"))["seconds"]
        est[n] = s * 50000 / int(os.environ.get("PILOT", "10240"))
    except Exception as e:
        print("PILOT FAILED", n, e); print(open(f"{WORK}/pilot-{n}.log").read()[-3000:])
print("pilot done at", round(time.time() - T0), "s; est epoch s:", {k: round(v, 1) for k, v in est.items()}, flush=True)
report["pilot_epoch_estimate_s"] = est
if not est:
    pack(); sys.exit(1)
left = DEADLINE - (time.time() - T0) - 25   # start-up and final evaluation margin
epochs = {n: max(1, min(150, math.floor(left / e))) for n, e in est.items()}
report["epochs"] = epochs
print("epochs:", epochs, flush=True)
main = {n: launch("main", n, ["--epochs", str(epochs[n])]) for n in est}
wait(main, DEADLINE)
report["t_end"] = time.time()
for n, (p, out) in main.items():
    try:
        print(n, json.dumps(json.load(open(f"{out}/summary.json"))))
    except Exception as e:
        print(n, "no summary", e); print(open(f"{WORK}/main-{n}.log").read()[-1500:])
json.dump(report, open(f"{OUT}/sweep.json", "w"), indent=1)
pack()
