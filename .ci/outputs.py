"""Notebooks are committed with their outputs (the docs site shows what is committed).

    python .ci/outputs.py run [--slow] [nbs/x.ipynb ...]   # execute notebooks in place, keep their outputs
    python .ci/outputs.py check [nbs/x.ipynb ...]          # CI: images where plots are drawn; outputs reproduce

`run` executes every code cell as nbdev_test does (cells flagged `#| slow` run only with --slow; without it their
committed outputs are kept), then strips metadata with nbdev_clean. `check` fails if a notebook draws a plot and has
no image output, or if re-executing it (slow cells skipped) prints other text than what is committed. A cell whose
source holds the comment `# output varies` (timings, say) is left out of that comparison.
"""
import json, os, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLOT = re.compile(r'\b(plt\.|plot_\w+\(|\.plot\(|\.imshow\(|\.bar\(|\.hist\()')
VARIES = '# output varies'
SKIP_FLAGS = {'slow', 'notest'}

def _directives(src):
    return {l[2:].strip().split(':')[0].split()[0]: l for l in src.splitlines()
            if l.startswith('#|') and l[2:].strip()}

def _skip(cell, slow):
    d = _directives(''.join(cell['source']) if isinstance(cell['source'], list) else cell['source'])
    if 'eval' in d and 'false' in d['eval'].lower(): return True
    flags = SKIP_FLAGS - ({'slow'} if slow else set())
    return bool(flags & d.keys())

def execute(nb_path, slow=False):
    "Execute `nb_path` in its folder as nbdev_test does; returns the notebook (execnb's dict) with outputs."
    os.environ['IN_TEST'] = '1'
    os.environ.setdefault('MPLBACKEND', 'Agg')
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    nb = read_nb(nb_path)
    kept = {}   # cells not executed keep their committed outputs
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'code' and _skip(c, slow): kept[i] = c.get('outputs', [])
    cwd = os.getcwd(); os.chdir(Path(nb_path).parent)
    try:
        k = CaptureShell(nb_path, mpl_format='png')   # not 'retina': small images
        k.run_cell('import matplotlib; matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80})')
        k.run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type != 'code' or _skip(c, slow))
    finally: os.chdir(cwd)
    for i, outs in kept.items(): nb.cells[i]['outputs'] = outs
    return nb

def texts(cell):
    "The text a cell shows: stdout and plain-text results (stderr, e.g. warnings and progress bars, left out)."
    out = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout': out.append(''.join(o.get('text', '')))
        elif o.get('output_type') in ('execute_result', 'display_data'):
            d = o.get('data', {})
            if 'image/png' not in d and 'text/plain' in d: out.append(''.join(d['text/plain']))
    return re.sub(r'[ \t]+\n', '\n', ''.join(out)).strip()

def has_image(cell): return any('image/png' in o.get('data', {}) for o in cell.get('outputs', []))

def run_one(p, slow):
    from execnb.nbio import write_nb
    write_nb(execute(p, slow), p)

def run(paths, slow):
    "Execute each notebook in a fresh interpreter (as nbdev_test does), write its outputs, clean its metadata."
    for p in paths:
        print(f'outputs: running {os.path.relpath(p, ROOT)}', flush=True)
        r = subprocess.run([sys.executable, __file__, '--run-one', str(p)] + (['--slow'] if slow else []), cwd=ROOT)
        if r.returncode: sys.exit(f'outputs: {os.path.relpath(p, ROOT)} failed; its outputs were not written')
        subprocess.run(['nbdev_clean', '--fname', str(p)], check=True, cwd=ROOT)

def check_one(p):
    "Problems with notebook `p`'s committed outputs (run in a fresh interpreter)."
    r = subprocess.run([sys.executable, __file__, '--one', str(p)], capture_output=True, text=True, cwd=ROOT)
    try: return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError): return [f'could not execute: {r.stderr.strip()[-400:]}']

def problems(p):
    committed = json.loads(Path(p).read_text(encoding='utf-8'))['cells']
    code = [c for c in committed if c['cell_type'] == 'code']
    out = []
    plots = [i for i, c in enumerate(code) if PLOT.search(''.join(c['source']))
             and not _skip(c, slow=False) and not ''.join(c['source']).lstrip().startswith('#| export')]
    for i in plots:
        if not has_image(code[i]): out.append(f'code cell {i} draws a plot but has no image output')
    try: fresh = [c for c in execute(p).cells if c.cell_type == 'code']
    except BaseException as e: return out + [f'execution failed: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}']
    for i, (a, b) in enumerate(zip(code, fresh)):
        src = ''.join(a['source'])
        if _skip(a, slow=False) or VARIES in src: continue
        ta, tb = texts(a), texts(b)
        if ta != tb:
            out.append(f'code cell {i} prints other text than is committed: committed {ta[:120]!r}, now {tb[:120]!r}')
    return out

def main(argv):
    if argv[:1] == ['--one']: print(json.dumps(problems(argv[1]))); return 0
    if argv[:1] == ['--run-one']: run_one(argv[1], '--slow' in argv); return 0
    cmd, rest = (argv[0] if argv else 'check'), argv[1:]
    slow = '--slow' in rest
    paths = [Path(a).resolve() for a in rest if a != '--slow'] or sorted(
        p.resolve() for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    if cmd == 'run': run(paths, slow); return 0
    bad = 0
    with ThreadPoolExecutor(2) as ex:
        for p, probs in zip(paths, ex.map(check_one, paths)):
            name = os.path.relpath(p, ROOT)
            for q in probs: print(f'outputs: {name}: {q}')
            bad += bool(probs)
    print(f'outputs: {len(paths) - bad} of {len(paths)} notebooks show their plots and reproduce their committed text')
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
