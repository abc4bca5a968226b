"""Training-step and merged-inference cost of relora's adapters, PEFT's and LyCORIS's, as ratios to the plain layer.

For a square nn.Linear (d x d, bias, W frozen) and `--tokens` input rows that require grad (as inside a network), each
variant runs one training step, forward + backward (dL/dy random):

- plain:          the bare layer (its backward computes dL/dx only: W is frozen);
- ref-lora:       a plain two-matmul LoRA, lin(x) + s * (x A^T) B^T (the issue's reference point);
- relora-*:       `AdaptedLayer(lin, kind)` for relora's lora, loha, lokr, lotr, dora (DoRA over LoRA);
- peft-*:         PEFT's LoRA, LoHa, LoKr layers and its DoRA (LoRA with use_dora=True) (if peft is installed);
- lycoris-*:      LyCORIS's LoCon (lora), LoHa, LoKr modules in their default mode, and LoCon with
                  weight_decompose=True (dora) (if lycoris is installed).
  (`pip install -e ".[bench]"` installs both peers, the versions the tests compare against.)

Then merged inference: each relora adapter merged into its own copy of the layer, forward only (no grad), against the
plain layer's forward.

Every adapter has rank r and non-zero factors. Within each repeat every variant runs once, in a shuffled order, so
that the load of the machine (shared, noisy) hits all variants alike; the table shows median(variant) / median(plain)
over the repeats, with min(variant) / min(plain) in brackets (load only adds time: when the load comes and goes, as on a
shared machine, the two disagree and the min is the steadier; the JSON also holds the median of per-round ratios and every
time). Absolute times depend on the machine; the ratios, measured side by side in one run, travel better.

Usage: python benchmarks/adapters_bench.py [--quick] [--sizes 1024 4096] [--threads 1 2] [--repeats 7]
                                           [--kinds lora loha lokr lotr dora] [--tokens 2048] [--r 16] [--out PATH]
Not part of the tests.
"""
import argparse, copy, importlib.metadata, json, os, platform, random, statistics, sys, tempfile, time
import torch
import torch.nn.functional as F
from torch import nn
from relora.adapters import AdaptedLayer, adapter_kind
import relora.loha, relora.lokr, relora.lotr  # noqa: F401  (register their kinds)
from _common import atomic_write_json

KINDS = ['lora', 'loha', 'lokr', 'lotr', 'dora']
AIMS = {'relora-lora': 1.08, 'relora-loha': 1.5, 'relora-lokr': 1.3}   # the aims (d = 1024, 1 thread)
PEERS = {'lora': ['peft-lora', 'lycoris-lora', 'ref-lora'], 'loha': ['peft-loha', 'lycoris-loha'], 'lokr': ['peft-lokr', 'lycoris-lokr'],
         'dora': ['peft-dora', 'lycoris-dora']}


def _nonzero_(module, std=0.02):
    "Give every trainable factor a small random value (a trained-looking adapter: nothing is skipped as zero)."
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad: p.normal_(std=std)
    return module


def relora_layer(lin, kind, r):
    "lin wrapped with a relora adapter of `kind` (its own factors non-zero)."
    ad = adapter_kind(kind).build({'lin': lin}, r=r, alpha=r)['lin']
    return AdaptedLayer(lin, _nonzero_(ad), 'lin')


def peft_layers(lin, r):
    "{'peft-lora': layer, ...} from PEFT (empty if PEFT is not installed)."
    try: from peft import get_peft_model, LoraConfig, LoHaConfig, LoKrConfig
    except ImportError: return {}
    out = {}
    for name, cfg in [('lora', LoraConfig(r=r, lora_alpha=r, target_modules=['lin'])),
                      ('loha', LoHaConfig(r=r, alpha=r, target_modules=['lin'])),
                      ('lokr', LoKrConfig(r=r, alpha=r, target_modules=['lin'])),
                      ('dora', LoraConfig(r=r, lora_alpha=r, target_modules=['lin'], use_dora=True))]:
        holder = nn.Module(); holder.lin = copy.deepcopy(lin)
        layer = get_peft_model(holder, cfg).base_model.model.lin
        for n, p in layer.named_parameters(): p.requires_grad_('base_layer' not in n)
        out[f'peft-{name}'] = _nonzero_(layer)
    return out


def lycoris_layers(lin, r):
    "{'lycoris-lora': module, ...}: LyCORIS's LoCon/LoHa/LoKr modules in their default (rebuild) mode (empty if not installed)."
    try: from lycoris.modules import LoConModule, LohaModule, LokrModule
    except ImportError: return {}
    out = {}
    for name, cls, kw in [('lora', LoConModule, {}), ('loha', LohaModule, {}), ('lokr', LokrModule, {}),
                          ('dora', LoConModule, dict(weight_decompose=True))]:
        base = copy.deepcopy(lin)
        out[f'lycoris-{name}'] = _nonzero_(cls(f'lycoris_{name}', base, multiplier=1.0, lora_dim=r, alpha=r, **kw))
    return out


class RefLoRA(nn.Module):
    "The plain two-matmul LoRA of the issue: lin(x) + s * (x A^T) B^T."
    def __init__(self, lin, r):
        super().__init__()
        self.lin, self.s = lin, 1.0
        self.A = nn.Parameter(torch.randn(r, lin.in_features) * 0.02)
        self.B = nn.Parameter(torch.randn(lin.out_features, r) * 0.02)
    def forward(self, x): return self.lin(x) + (x @ self.A.T) @ self.B.T * self.s


def train_variants(d, r, kinds, tokens):
    "{name: step()} closures, each one forward + backward on the same input and upstream gradient."
    torch.manual_seed(0)
    lin = nn.Linear(d, d).requires_grad_(False)
    layers = {'plain': lin, 'ref-lora': RefLoRA(lin, r)}
    layers.update({f'relora-{k}': relora_layer(lin, k, r) for k in kinds})
    layers.update({k: v for k, v in peft_layers(lin, r).items() if k.split('-')[1] in kinds})
    layers.update({k: v for k, v in lycoris_layers(lin, r).items() if k.split('-')[1] in kinds})
    x = torch.randn(tokens, d, requires_grad=True)
    g = torch.randn(tokens, d)                                    # dL/dy from the layers above
    def step_fn(m):
        params = [p for p in m.parameters() if p.requires_grad]
        def step():
            x.grad = None
            for p in params: p.grad = None
            m(x).backward(g)
        return step
    check(layers, lin, d)
    return {k: step_fn(m) for k, m in layers.items()}


def check(layers, lin, d):
    "Every relora variant computes x W'^T + b, W' = merged_weight(W) (so that the timings compare like with like)."
    x = torch.randn(4, d)
    for k, m in layers.items():
        if k.startswith('relora-'):
            want = F.linear(x, m.adapter.merged_weight(lin.weight), lin.bias)
            torch.testing.assert_close(m(x), want, rtol=1e-4, atol=1e-4, msg=lambda s: f'{k}: {s}')


def infer_variants(d, r, kinds, tokens):
    "{name: forward()} closures, no grad: the plain layer, and each relora adapter merged into its own copy of it."
    torch.manual_seed(0)
    lin = nn.Linear(d, d).requires_grad_(False)
    x = torch.randn(tokens, d)
    out = {'plain': lin}
    for k in kinds:
        m = relora_layer(copy.deepcopy(lin), k, r)
        with torch.no_grad(): want = m(x[:4])                   # unmerged: base(x) + the adapter
        torch.testing.assert_close(m.merge()(x[:4]), want, rtol=1e-4, atol=1e-4)
        out[f'relora-{k}-merged'] = m
    def fwd(m):
        def f():
            with torch.no_grad(): m(x)
        return f
    return {k: fwd(m) for k, m in out.items()}


def measure(fns, repeats, seed, label):
    "{name: [seconds]}: one warm-up each, then `repeats` rounds, each running every variant once in a shuffled order."
    for f in fns.values(): f()
    times, rng, names = {k: [] for k in fns}, random.Random(seed), list(fns)
    for i in range(repeats):
        rng.shuffle(names)
        for k in names:
            t0 = time.perf_counter(); fns[k](); times[k].append(time.perf_counter() - t0)
        print(f'  {label}: round {i + 1}/{repeats}', file=sys.stderr, flush=True)
    return times


def summarise(times):
    """{name: {median_ms, ratio, paired_ratio, min_ratio, times_ms}}: ratio = median / median(plain); paired = median of the
    per-round ratios; min_ratio = min / min(plain) (load only adds time: a cross-check on a noisy machine)."""
    mp = statistics.median(times['plain'])
    return {k: dict(median_ms=1e3 * statistics.median(v), ratio=statistics.median(v) / mp,
                    paired_ratio=statistics.median(t / p for t, p in zip(v, times['plain'])),
                    min_ratio=min(v) / min(times['plain']),
                    times_ms=[round(1e3 * t, 3) for t in v]) for k, v in times.items()}


def print_table(title, results, cols):
    "Rows: variants; columns: (d, threads) median ratio to plain (min ratio); plus the plain layer's median time."
    names = list(dict.fromkeys(k for c in cols for k in results[c]))
    head = ''.join(f'{f"d={d} t={t}":>16}' for d, t in cols)
    print(f'\n{title}: median ratio (min ratio)\n{"variant":<22}{head}')
    for n in names:
        cells = ''
        for c in cols:
            v = results[c].get(n)
            cells += f'{"-":>16}' if v is None else (f'{v["median_ms"]:>13.1f} ms' if n == 'plain' else
                                                     f'{v["ratio"]:>9.2f} ({v["min_ratio"]:.2f})')
        aim = f'  (aim <= {AIMS[n]:.2f})' if n in AIMS else ''
        print(f'{n:<22}{cells}{aim}')



def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[1024, 4096], help='d of the square layer')
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='torch.set_num_threads settings')
    p.add_argument('--repeats', type=int, default=7, help='rounds per (d, threads); medians over them')
    p.add_argument('--kinds', nargs='+', default=KINDS, choices=KINDS, help='adapter kinds to run')
    p.add_argument('--tokens', type=int, default=2048)
    p.add_argument('--r', type=int, default=16)
    p.add_argument('--quick', action='store_true', help='d = 1024 only')
    p.add_argument('--no-infer', action='store_true', help='skip the merged-inference table')
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'adapters.json'))
    a = p.parse_args()
    sizes = [1024] if a.quick else a.sizes
    versions = {'torch': torch.__version__, 'python': platform.python_version()}
    for mod in ('peft', 'lycoris'):
        try: versions[mod] = importlib.metadata.version('lycoris-lora' if mod == 'lycoris' else mod)
        except importlib.metadata.PackageNotFoundError: versions[mod] = None
    print(f"{' '.join(f'{k} {v}' for k, v in versions.items())}; {os.cpu_count()} cpus; {a.tokens} tokens, r={a.r}, "
          f"W frozen, x requires grad; median of {a.repeats} shuffled rounds")
    train, infer = {}, {}
    for t in a.threads:
        torch.set_num_threads(t)
        for d in sizes:
            fns = train_variants(d, a.r, a.kinds, a.tokens)
            train[(d, t)] = summarise(measure(fns, a.repeats, seed=d + t, label=f'train d={d} threads={t}')); del fns
            if not a.no_infer:
                fns = infer_variants(d, a.r, a.kinds, a.tokens)
                infer[(d, t)] = summarise(measure(fns, a.repeats, seed=d + t + 1, label=f'infer d={d} threads={t}')); del fns
    cols = [(d, t) for d in sizes for t in a.threads]
    print_table('training step (forward + backward) / plain layer step', train, cols)
    if infer: print_table('merged inference (forward, no grad) / plain layer forward', infer, cols)
    atomic_write_json(dict(args=vars(a), versions=versions, cpus=os.cpu_count(),
                           train={f'd={d},threads={t}': v for (d, t), v in train.items()},
                           infer={f'd={d},threads={t}': v for (d, t), v in infer.items()}), a.out)
    print(f'\nwrote {a.out}')


if __name__ == '__main__': main()
