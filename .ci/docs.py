"""Check that the docs build: run nbdev's own docs processing (what `nbdev_docs` does before Quarto) on
every notebook, each in a fresh process, and fail on any error or on nbdev's warning about cells that mix
imports with other code (nbdev executes such cells alone when building docs).

    python .ci/docs.py            # every notebook in nbs/
    python .ci/docs.py nbs/lotr.ipynb ...
"""
import json, os, re, subprocess, sys, warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

def proc(nb):
    "Process one notebook as `nbdev_docs` would; returns (notebook, problems)."
    os.environ['IN_TEST'] = '1'            # what nbdev.serve_drv sets while processing
    os.environ.setdefault('MPLBACKEND', 'Agg')
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    os.chdir(Path(nb).parent)              # nbdev runs notebooks from their own folder
    problems = []
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        try:
            doc = read_nb(Path(nb).name); FilterDefaults()(doc)
            # show_doc's output: a source link must carry its line (nbdev's default renderer gives #LNone)
            md = [''.join(o.get('data', {}).get('text/markdown', '')) for c in doc.cells
                  for o in c.get('outputs', [])]
            # and a class is shown as a class (relora's names: classes CamelCase, functions snake_case)
            if any('#LNone' in m or re.search(r'```python\ndef [A-Z]', m) for m in md):
                problems.append('error: show_doc shows a class as `def` or a source link without '
                                'its line: is settings.ini renderer = relora.showdoc.Renderer?')
        except BaseException as e: problems.append(f'error: {str(e).splitlines()[0][:300]}')
    for w in ws:
        msg = str(w.message)
        if 'imports and other code' in msg: problems.append('warning: ' + ' '.join(msg.split())[:300])
    return nb, problems

def main(paths):
    nbs = [str(Path(p).resolve()) for p in paths] or sorted(str(p.resolve()) for p in Path('nbs').glob('*.ipynb'))
    nbs = [n for n in nbs if not Path(n).name.startswith('_')]
    bad = 0
    def run(nb):   # a fresh interpreter per notebook, as nbdev_docs spawns one
        r = subprocess.run([sys.executable, __file__, '--one', nb], capture_output=True, text=True)
        try: return nb, json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError): return nb, [f'error: the docs process died: {r.stderr.strip()[-300:]}']
    with ThreadPoolExecutor(2) as ex:
        for nb, problems in ex.map(run, nbs):
            name = os.path.relpath(nb)
            if problems:
                bad += 1
                for p in problems: print(f'docs: {name}: {p}')
            else: print(f'docs: {name}: ok')
    print(f'docs: {len(nbs) - bad} of {len(nbs)} notebooks processed as nbdev_docs would, {bad} with problems')
    return 1 if bad else 0

if __name__ == '__main__':
    if sys.argv[1:2] == ['--one']:
        nb, problems = proc(os.path.abspath(sys.argv[2]))
        print(json.dumps(problems))
    else: sys.exit(main(sys.argv[1:]))
