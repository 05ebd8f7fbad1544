#!/usr/bin/env python3
"""pprof_share.py PROFILE FRAGMENT...: the share of the CPU samples of a Go pprof profile (what `kubectl
--profile=cpu --profile-output=PROFILE` writes) whose stack holds a function whose name contains each FRAGMENT.

A share is measured within one run, so it does not move with the machine's speed as wall times do. Python's
standard library only: the profile is gzipped protocol buffers (github.com/google/pprof, proto/profile.proto),
read here field by field."""
import gzip, sys

def varint(b, i):
    """The unsigned varint at b[i]: (value, index after it)."""
    r = s = 0
    while True:
        x = b[i]; i += 1
        r |= (x & 0x7f) << s; s += 7
        if x < 0x80: return r, i

def fields(b):
    """(field number, wire type, value) of each field of the message b."""
    i = 0
    while i < len(b):
        key, i = varint(b, i); f, t = key >> 3, key & 7
        if t == 0: v, i = varint(b, i)
        elif t == 2:
            n, i = varint(b, i); v = b[i:i+n]; i += n
        elif t == 1: v = b[i:i+8]; i += 8
        elif t == 5: v = b[i:i+4]; i += 4
        else: raise ValueError(t)
        yield f, t, v

def packed(t, v):
    """A repeated integer field, packed (wire type 2) or not."""
    if t == 0: return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i); out.append(x)
    return out

def load(path):
    """Samples (location ids, values), the function ids of each location, and each function's name."""
    b = gzip.open(path).read()
    samples, locs, funcs, strings = [], {}, {}, []
    for f, t, v in fields(b):
        if f == 2:
            ids, vals = [], []
            for g, u, w in fields(v):
                if g == 1: ids += packed(u, w)
                elif g == 2: vals += packed(u, w)
            samples.append((ids, vals))
        elif f == 4:
            lid, fids = 0, []
            for g, u, w in fields(v):
                if g == 1: lid = w
                elif g == 4:
                    for h, _, x in fields(w):
                        if h == 1: fids.append(x)
            locs[lid] = fids
        elif f == 5:
            fid = name = 0
            for g, u, w in fields(v):
                if g == 1: fid = w
                elif g == 2: name = w
            funcs[fid] = name
        elif f == 6:
            strings.append(v.decode())
    return samples, locs, {k: strings[v] for k, v in funcs.items()}

samples, locs, names = load(sys.argv[1])
total = sum(v[-1] for _, v in samples)
print(f"total {total/1e9:.2f} s of CPU samples")
for frag in sys.argv[2:]:
    hit = 0
    for ids, vals in samples:
        stack = [names[f] for l in ids for f in locs.get(l, [])]
        if any(frag in s for s in stack): hit += vals[-1]
    print(f"{hit/total:6.3f}  {frag}")
