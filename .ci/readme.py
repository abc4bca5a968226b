"""README.md is nbs/index.ipynb rendered to markdown (Quarto, which `nbdev_readme` needs, is not
installed on these machines). `python .ci/readme.py` writes README.md; `--check` fails if it differs;
`--commands` prints the two set-up commands (the first ```sh block of README.md) for .ci/run."""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\|')

def render(nb_path=root/'nbs'/'index.ipynb') -> str:
    cells, out = json.loads(nb_path.read_text(encoding='utf-8'))['cells'], []
    for c in cells:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown': out.append(src.strip().replace('](images/', '](nbs/images/'))  # from the root
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(re.match(r'^\s*#\|\s*(hide|default_exp|export)\b', l) for l in lines): continue
            code = '\n'.join(l for l in lines if not DIRECTIVE.match(l)).strip()
            if code: out.append(f'```python\n{code}\n```')
    return '\n\n'.join(out) + '\n'

def commands(readme=root/'README.md') -> list:
    m = re.search(r'```(?:sh|bash)\n(.*?)```', readme.read_text(encoding='utf-8'), re.S)
    return [l.strip() for l in m.group(1).splitlines() if l.strip() and not l.strip().startswith('#')] if m else []

if __name__ == '__main__':
    if '--commands' in sys.argv: print('\n'.join(commands())); sys.exit(0 if commands() else 1)
    text = render()
    if '--check' in sys.argv:
        ok = (root/'README.md').read_text(encoding='utf-8') == text
        if not ok: print('README.md differs from nbs/index.ipynb rendered: run `python .ci/readme.py`')
        sys.exit(0 if ok else 1)
    (root/'README.md').write_text(text, encoding='utf-8')
