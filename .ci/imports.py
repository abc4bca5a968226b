"""How relora's modules import each other: import circles, imports of relora modules inside functions, and
private names imported across modules. Prints each list; exits 1 if any is not empty.

    python .ci/imports.py            # check relora/*.py
    python .ci/imports.py --graph    # also print who imports whom
"""
import ast, sys
from pathlib import Path

PKG = 'relora'

def _target(mod: str, node: ast.ImportFrom | ast.Import) -> list:
    "The relora modules a statement in module `mod` imports (absolute names)."
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == PKG or a.name.startswith(PKG + '.')]
    if node.level:   # relative: from .x import y, from . import x
        base = mod.rsplit('.', node.level)[0]
        if node.module: return [f'{base}.{node.module}']
        return [f'{base}.{a.name}' for a in node.names]
    m = node.module or ''
    return [m] if m == PKG or m.startswith(PKG + '.') else []

def scan(root: Path):
    "({module: {imported modules}}, [function-level imports], [private imports], [dynamic imports])."
    graph, inner, private, dynamic = {}, [], [], []
    for f in sorted((root / PKG).glob('*.py')):
        if f.name in ('_modidx.py', '__init__.py'): continue
        mod = f'{PKG}.{f.stem}'; tree = ast.parse(f.read_text()); graph[mod] = set()
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'import_module':
                dynamic.append(f'{mod}:{node.lineno}: importlib.import_module')
            if not isinstance(node, (ast.Import, ast.ImportFrom)): continue
            targets = [t for t in _target(mod, node) if t != PKG]
            if not targets: continue
            graph[mod].update(targets)
            if id(node) not in top:
                inner.append(f'{mod}:{node.lineno}: imports {", ".join(targets)} inside a block')
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name.startswith('_'):
                        private.append(f'{mod}:{node.lineno}: from {targets[0]} import {a.name}')
    return graph, inner, private, dynamic

def cycles(graph: dict) -> list:
    "Every elementary import circle, once (as found by depth-first search from each module)."
    found, seen = [], set()
    def dfs(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                key = frozenset(path)
                if key not in seen: seen.add(key); found.append(path + [start])
            elif nxt not in path and nxt > start: dfs(start, nxt, path + [nxt])
    for m in sorted(graph): dfs(m, m, [m])
    return found

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    graph, inner, private, dynamic = scan(root)
    circ = cycles(graph)
    if '--graph' in sys.argv:
        for m, ts in sorted(graph.items()): print(f'{m} -> {", ".join(sorted(ts)) or "(none)"}')
    print(f'imports: {len(graph)} modules; {len(circ)} import circles, {len(inner)} relora imports '
          f'inside functions, {len(private)} private names imported across modules, '
          f'{len(dynamic)} dynamic imports')
    for c in circ: print('  circle: ' + ' -> '.join(c))
    for l in inner + private: print('  ' + l)
    # the one kind resolver (relora.adapters.adapter_kind) imports a kind's module by name, on demand
    allowed = [l for l in dynamic if l.startswith(f'{PKG}.adapters:')]
    for l in allowed: print('  (allowed: the kind resolver) ' + l)
    other = [l for l in dynamic if l not in allowed]
    for l in other: print('  dynamic import outside the kind resolver: ' + l)
    sys.exit(1 if circ or inner or private or other else 0)
