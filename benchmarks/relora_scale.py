"""What a ReLoRA step costs on a model of real size: a 124M-parameter decoder (GPT-2 small's shape) on CPU.

relora's GPT with 12 layers, d = 768, 12 heads, a 50,304-token vocabulary (a BPE model's size; the head tied to the
embedding), sequences of 256 tokens, batch 2, AdamW. Variants, each timed as one whole training step
(forward, backward, optimizer step, zero_grad) on the same batch:

- full:          full-rank training, every parameter trains (the baseline);
- relora-r64:    the ReLoRA phase: LoRA r = 64 on every projection (q, k, v, o, up, down), the rest frozen except
                 the embeddings, the tied head and the norms, which train full-rank as in the paper;
- relora-r128:   the same with r = 128;
- relora-r64-frozen: r = 64, embeddings, head and norms frozen too (only the adapters train);
- peft-r64:      PEFT's LoRA (the peer; axolotl's ReLoRA uses it) on the same model, same targets and trainable
                 modules as relora-r64 (skipped if peft is not installed).

Timing: after one warm-up step each, `--rounds` rounds in which every variant runs one step, in a shuffled order,
so that the machine's load hits all alike; the table shows median(variant) / median(full) and min / min.
A restart (merge + re-init + optimizer-state pruning, relora.restarts) is timed for relora-r64 in units of its step.
The FLOP floor of each variant counts the matmul FLOPs of a step, 2 per multiply-add: forward 2 N P for P matmul
weights and N tokens, backward 2 N P for the input gradients and 2 N P_t for the weights that train (the frozen
W get no dW; attention's own matmuls counted in both). Memory: the optimizer state's bytes, and the peak resident
memory (VmHWM) of a process that builds the model and takes three steps, each variant in its own process.

    python benchmarks/relora_scale.py --rounds 7          # 1 and 2 threads (about 15 minutes on 2 cores)
    python benchmarks/relora_scale.py --threads 2 --rounds 3 --no-memory     # quicker

Not a test: prints the tables and writes results.json to --out.
"""
import argparse, json, os, platform, random, statistics, subprocess, sys, time
import torch
from torch import nn
from relora.model import GPT, GPTConfig
from relora.adapters import add_adapters
from relora.restarts import merge_and_reinit, reset_optimizer_state
from _common import atomic_write_json

TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']
FULL_RANK = ['wte', 'wpe', 'ln_*', 'h.*.ln_*']      # trained full-rank in the ReLoRA phase (paper)
VARIANTS = ['full', 'relora-r64', 'relora-r128', 'relora-r64-frozen', 'peft-r64']

def config(a) -> GPTConfig:
    return GPTConfig(vocab_size=a.vocab, block_size=a.seq, n_layer=a.layers, n_head=a.heads,
                     n_embd=a.d)

def build(name:str, a):
    "(model, optimizer) for variant `name`, or None if its library is missing."
    torch.manual_seed(0); model = GPT(config(a))
    if name.startswith('relora'):
        r = int(name.split('-r')[1].split('-')[0])
        add_adapters(model, targets=TARGETS, r=r, alpha=r,
                     trainable=[] if name.endswith('frozen') else FULL_RANK)
    elif name.startswith('peft'):
        try: from peft import LoraConfig, get_peft_model
        except ImportError: return None
        for p in model.parameters(): p.requires_grad_(False)
        model = get_peft_model(model, LoraConfig(r=64, lora_alpha=64, target_modules=TARGETS))
        for n, p in model.named_parameters():
            if any(k in n for k in ('wte', 'wpe', 'ln_')): p.requires_grad_(True)
    with torch.no_grad():   # trained-looking adapters: nothing is skipped as zero
        for n, p in model.named_parameters():
            if 'lora_B' in n: p.normal_(std=0.02)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

def batch(a):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g)
    return x[:, :-1], x[:, 1:]

def step(model, opt, x, y):
    _, loss = model(x, y); loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)

def flops(model, a) -> float:
    "Matmul FLOPs of one training step (see the module docstring)."
    N, d, L, T = a.batch * a.seq, a.d, a.layers, a.seq
    P = Pt = 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and 'lora_' not in name:   # PEFT's factors are Linears too
            P += m.weight.numel(); Pt += m.weight.numel() if m.weight.requires_grad else 0
    lora = sum(p.numel() for n, p in model.named_parameters() if 'lora_' in n)
    P += lora; Pt += lora    # adapters: x A^T and h B^T are matmuls too, and they train
    attn = 2 * 2 * a.batch * L * T * T * d           # q k^T and p v, forward
    return 2 * N * P + 2 * N * P + 2 * N * Pt + 3 * attn

def opt_bytes(opt) -> int:
    return sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
               if torch.is_tensor(t) and t.dim() > 0)

def peak_rss(name, a) -> float|None:
    ("Peak resident memory (MB) of a fresh process that builds variant `name` and takes three steps: "
     "its VmHWM (ru_maxrss would carry this parent's peak across fork and exec).")
    code = ("import sys, torch; sys.path.insert(0, %r); import relora_scale as s; "
            "a = s.parse(%r); torch.set_num_threads(1); mo = s.build(%r, a)\n"
            "if mo is None: print('skip'); sys.exit()\n"
            "x, y = s.batch(a)\nfor _ in range(3): s.step(*mo, x, y)\n"
            "print([int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    argv = [f'--{k}={v}' for k, v in vars(a).items() if k in ('vocab', 'seq', 'layers', 'heads', 'd', 'batch')]
    r = subprocess.run([sys.executable, '-c', code % (os.path.dirname(os.path.abspath(__file__)), argv, name)],
                       capture_output=True, text=True)
    out = r.stdout.strip().splitlines()
    return None if not out or out[-1] == 'skip' else float(out[-1])

def time_threads(a, n, x, y) -> dict:
    torch.set_num_threads(n)
    built = {v: build(v, a) for v in VARIANTS}
    built = {v: mo for v, mo in built.items() if mo is not None}
    for v, mo in built.items(): step(*mo, x, y)             # warm-up (and the optimizer state exists)
    times = {v: [] for v in built}
    for r in range(a.rounds):
        order = list(built); random.Random(r).shuffle(order)
        for v in order:
            t0 = time.perf_counter(); step(*built[v], x, y); times[v].append(time.perf_counter() - t0)
        print(f'  {n} thread(s), round {r + 1}/{a.rounds}: ' +
              ', '.join(f'{v} {times[v][-1]:.2f}s' for v in built), flush=True)
    model, opt = built['relora-r64']; rs = []
    for _ in range(3):                      # a restart: merge, re-init, prune the adapters' state
        t0 = time.perf_counter()
        merge_and_reinit(model)
        reset_optimizer_state(opt, [p for n, p in model.named_parameters() if 'lora_' in n],
                              'magnitude', 0.99)
        rs.append(time.perf_counter() - t0)
    res = dict(times=times, restart=rs,
               floor={v: flops(mo[0], a) for v, mo in built.items()},
               opt_bytes={v: opt_bytes(mo[1]) for v, mo in built.items()},
               trainable={v: sum(p.numel() for p in mo[0].parameters() if p.requires_grad)
                          for v, mo in built.items()})
    del built
    return res

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--vocab', type=int, default=50304)
    p.add_argument('--seq', type=int, default=256)
    p.add_argument('--layers', type=int, default=12)
    p.add_argument('--heads', type=int, default=12)
    p.add_argument('--d', type=int, default=768)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--no-memory', action='store_true', help='skip the peak-memory processes')
    p.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results', 'relora_scale'))
    return p.parse_args(argv)

def main(argv=None):
    a = parse(argv); x, y = batch(a)
    print(f'relora_scale: {sum(p.numel() for p in GPT(config(a)).parameters()) / 1e6:.1f}M parameters, '
          f'B={a.batch}, T={a.seq}, torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores', flush=True)
    res = dict(args=vars(a), threads={})
    os.makedirs(a.out, exist_ok=True)
    for n in a.threads:
        res['threads'][n] = r = time_threads(a, n, x, y)
        atomic_write_json(res, os.path.join(a.out, 'results.json'))   # written as soon as measured
        med, mn = ({v: f(t) for v, t in r['times'].items()} for f in (statistics.median, min))
        print(f'\n{n} thread(s): step time over full-rank training (median of {a.rounds} rounds; min/min)')
        print(f'{"variant":20s} {"step":>7s} {"min":>7s} {"floor":>7s} {"opt state":>10s} {"trainable":>11s}')
        for v in r['times']:
            print(f'{v:20s} {med[v] / med["full"]:7.3f} {mn[v] / mn["full"]:7.3f} '
                  f'{r["floor"][v] / r["floor"]["full"]:7.3f} '
                  f'{r["opt_bytes"][v] / r["opt_bytes"]["full"]:10.3f} {r["trainable"][v] / 1e6:10.1f}M')
        print(f'restart (relora-r64): {statistics.median(r["restart"]):.2f} s = '
              f'{statistics.median(r["restart"]) / med["relora-r64"]:.2f} of its step '
              f'({med["full"]:.2f} s full-rank, {med["relora-r64"]:.2f} s relora-r64)')
    if not a.no_memory:
        torch.set_num_threads(1)
        res['peak_rss_mb'] = mem = {v: peak_rss(v, a) for v in VARIANTS}
        atomic_write_json(res, os.path.join(a.out, 'results.json'))
        print('\npeak resident memory of build + 3 steps (1 thread): ' + ', '.join(
            f'{v} {m:.0f} MB ({m / mem["full"]:.2f}x)' for v, m in mem.items() if m))
    print(f'\nwrote {os.path.relpath(os.path.join(a.out, "results.json"))}')

if __name__ == '__main__': main()
