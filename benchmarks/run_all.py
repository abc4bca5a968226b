"""Run every benchmark script's quick mode, one after the other, each in its own process, and print one table of their key ratios.

Scripts (in this order; each is run with the venv's python from the repo root, its output kept in
benchmarks/results/run_all/<name>.log and, where it writes one, its JSON in benchmarks/results/run_all/<name>.json):
- adapters_bench --quick           training-step time of each adapter layer / plain layer (relora, PEFT, LyCORIS)
- loha_memory                      LoHa saved-for-backward bytes and peak memory, HadaWeight vs plain autograd / LyCORIS
- lokr_speed --dims 1024           (no quick mode: one size) fold / kron and sep / kron step time
- quant_drift --resets 10          NF4 drift over ReLoRA resets without / with a float32 master (skipped without bitsandbytes)
- relora_repro --quick --timing-only  ReLoRA / full-rank training-step cost
- merge_bench --quick              merge / unmerge / merge_and_reinit / shrink / extract time / one forward, whole model

--quick: fewer repeats everywhere (a smoke run, ~2-3 minutes; the ratios are noisier). The scripts run one at a time
(the machine has 2 cores and timings must not overlap). Writes benchmarks/results/summary.json atomically.
Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--timeout 900]
Not part of the tests.
"""
import argparse, importlib.util, json, os, re, statistics, subprocess, sys, tempfile, time
from _common import atomic_write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RES = os.path.join(HERE, 'results')
OUT = os.path.join(RES, 'run_all')



def _num(pattern, text):
    "The float captured by `pattern` in `text`, or None."
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else None


# ---- key ratios from each script's JSON or stdout: {metric: value} ----
def keys_adapters(log, js):
    out = {}
    for setting, rows in (js or {}).get('train', {}).items():
        for v, r in rows.items():
            if v != 'plain': out[f'train step / plain, {v} ({setting})'] = r['ratio']
    for setting, rows in (js or {}).get('infer', {}).items():
        for v, r in rows.items():
            if v != 'plain': out[f'merged forward / plain, {v} ({setting})'] = r['ratio']
    return out

def keys_loha(log, js):
    out = {}
    for line in log.splitlines():
        m = re.match(r'(peak, .*?|delta_W: plain autograd saves|forward, new bytes saved: .*?)[:=]? ([\d.]+)x', line)
        if m: out[m.group(1).rstrip(' =:')] = float(m.group(2))
        m = re.match(r'(peak, .*?): ([\d.]+)x \(torch allocator\), ([\d.]+)x \(RSS\)', line)
        if m: out[m.group(1) + ' (RSS)'] = float(m.group(3))
    ren = lambda k: ('delta_W saved bytes, plain autograd / HadaWeight' if k.startswith('delta_W') else
                     k.replace('peak, ', 'peak memory, ', 1) if k.startswith('peak') else k)
    return {ren(k): v for k, v in out.items()}

def keys_lokr(log, js):
    out = {}
    for line in log.splitlines():
        m = re.match(r'\s*(\d+)\s+\S+\s+.*\s([\d.]+)\s+([\d.]+)\s*$', line)
        if m: out[f'fold / kron step, d={m.group(1)}'], out[f'sep / kron step, d={m.group(1)}'] = float(m.group(2)), float(m.group(3))
    return out

def keys_quant(log, js):
    "Median over (shape, |dW|/|W|) of the error after the last reset: without master / with master."
    last = {}
    for line in log.splitlines():
        m = re.match(r'\s*(\d+x\d+)\s+([\d.]+)\s+(True|False)\s+([\d.]+)\s+(.*)$', line)
        if m: last[(m.group(1), m.group(2), m.group(3))] = float(m.group(5).split()[-1])
    ratios = [last[(s, r, 'False')] / last[(s, r, 'True')] for (s, r, mst) in last if mst == 'True' and last[(s, r, mst)] > 0 and (s, r, 'False') in last]
    return {'NF4 error after last reset, no master / master (median over rows)': statistics.median(ratios)} if ratios else {}

def keys_relora(log, js):
    v = _num(r'step cost ReLoRA / full-rank: ([\d.]+)', log)
    return {} if v is None else {'training step, ReLoRA / full-rank': v}

def keys_merge(log, js):
    return {f'{k} / one forward (1, 256), whole model': r['ratio'] for k, r in (js or {}).get('results', {}).items() if k != 'forward'}


def jobs(quick):
    "(name, argv after the script path, json path or None, key extractor, reason to skip or None)."
    j = lambda n: os.path.join(OUT, f'{n}.json')
    bnb = importlib.util.find_spec('bitsandbytes') is not None
    return [
        ('adapters_bench', ['--quick', '--out', j('adapters_bench')] + (['--repeats', '3', '--threads', '1'] if quick else []),
         j('adapters_bench'), keys_adapters, None),
        ('loha_memory', ['--repeats', '3'] if quick else [], None, keys_loha, None),
        ('lokr_speed', ['--dims', '1024'] + (['--repeats', '3'] if quick else []), None, keys_lokr, None),
        ('quant_drift', ['--resets', '10'], None, keys_quant, None if bnb else 'bitsandbytes is not installed'),
        ('relora_repro', ['--quick', '--timing-only'] + (['--timing-steps', '10'] if quick else []), None, keys_relora, None),
        ('merge_bench', ['--quick', '--out', j('merge_bench')] + (['--repeats', '3', '--extract-repeats', '1'] if quick else []),
         j('merge_bench'), keys_merge, None),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='fewer repeats in every script (a smoke run)')
    p.add_argument('--only', nargs='+', help='run only these scripts (names without .py)')
    p.add_argument('--timeout', type=float, default=900, help='seconds allowed per script')
    p.add_argument('--out', default=os.path.join(RES, 'summary.json'))
    a = p.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    summary, t_all = dict(quick=a.quick, python=sys.executable, scripts={}), time.perf_counter()
    for name, args, js_path, extract, skip in jobs(a.quick):
        if a.only and name not in a.only: continue
        cmd = [sys.executable, os.path.join('benchmarks', f'{name}.py')] + args
        rec = summary['scripts'][name] = dict(command=' '.join(['python'] + cmd[1:]))
        if skip:
            rec.update(status='skipped', reason=skip); print(f'== {name}: skipped ({skip})', flush=True); continue
        print(f'== {name}: {rec["command"]}', flush=True)
        t0 = time.perf_counter()
        try:
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=a.timeout)
            log, rc = res.stdout + ('\n[stderr]\n' + res.stderr if res.stderr.strip() else ''), res.returncode
        except subprocess.TimeoutExpired as e:
            log, rc = (e.stdout or b'').decode() if isinstance(e.stdout, bytes) else (e.stdout or ''), 'timeout'
        rec['seconds'] = round(time.perf_counter() - t0, 1)
        with open(os.path.join(OUT, f'{name}.log'), 'w') as f: f.write(log)
        js = None
        if js_path and rc == 0 and os.path.exists(js_path):
            with open(js_path) as f: js = json.load(f)
            rec['json'] = os.path.relpath(js_path, ROOT)
        try: rec['ratios'] = extract(log, js) if rc == 0 else {}
        except Exception as e: rec['ratios'], rec['parse_error'] = {}, f'{type(e).__name__}: {e}'
        rec['status'] = 'ok' if rc == 0 else f'failed ({rc})'
        if rc != 0: rec['tail'] = log.strip().splitlines()[-5:]
        print(f'   {rec["status"]} in {rec["seconds"]} s, {len(rec["ratios"])} ratios', flush=True)
    summary['seconds'] = round(time.perf_counter() - t_all, 1)

    rows = [(n, k, v) for n, r in summary['scripts'].items() for k, v in r.get('ratios', {}).items()]
    w = max([len(k) for _, k, _ in rows] + [6])
    print(f"\n{'script':<15} {'ratio':<{w}} {'value':>7}")
    for n, k, v in rows: print(f'{n:<15} {k:<{w}} {v:>7.2f}')
    for n, r in summary['scripts'].items():
        if r['status'] != 'ok': print(f"{n:<15} {r['status']}" + (f": {r.get('reason', '')}" if r.get('reason') else f" (see {os.path.relpath(os.path.join(OUT, n + '.log'), ROOT)})"))
    atomic_write_json(summary, a.out)
    print(f'\n{summary["seconds"]} s in all; wrote {os.path.relpath(a.out, ROOT)} (logs and JSON in {os.path.relpath(OUT, ROOT)}/)')
    return 0 if all(r['status'] in ('ok', 'skipped') for r in summary['scripts'].values()) else 1


if __name__ == '__main__': sys.exit(main())
