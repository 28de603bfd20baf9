#!/usr/bin/env python3
# Formats net/openapi.json the way it is kept: two-space indent, and a value on one line when
# it fits in 120 columns. Usage: tools/format_openapi.py net/openapi.json
import json,sys
from collections import OrderedDict
def compact(v): return json.dumps(v, ensure_ascii=False, separators=(', ', ': '))
def emit(v, indent, prefix, out, width=120):
    line = ' '*indent + prefix + compact(v)
    if not isinstance(v,(dict,list)) or len(line) <= width or not v:
        out.append(line); return
    if isinstance(v, dict):
        out.append(' '*indent + prefix + '{')
        items=list(v.items())
        for i,(k,x) in enumerate(items):
            emit(x, indent+2, json.dumps(k, ensure_ascii=False)+': ', out, width)
            if i < len(items)-1: out[-1]+=','
        out.append(' '*indent + '}')
    else:
        out.append(' '*indent + prefix + '[')
        for i,x in enumerate(v):
            emit(x, indent+2, '', out, width)
            if i < len(v)-1: out[-1]+=','
        out.append(' '*indent + ']')
p=sys.argv[1]
d=json.load(open(p), object_pairs_hook=OrderedDict)
out=[]; emit(d,0,'',out)
open(p,'w').write('\n'.join(out)+'\n')
