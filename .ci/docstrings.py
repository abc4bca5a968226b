"""Every public function and class that relora exports has a docstring (docs are built elsewhere)."""
import importlib, inspect, pkgutil, sys
import relora

missing = []
for m in pkgutil.iter_modules(relora.__path__):
    if m.name.startswith('_'): continue
    mod = importlib.import_module(f'relora.{m.name}')
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == mod.__name__ and not inspect.getdoc(obj):
            missing.append(f'relora.{m.name}.{name}')
if missing: print('no docstring:', ', '.join(missing))
sys.exit(1 if missing else 0)
