#!/usr/bin/env python3
"""Writes a host fixture: libvirt capabilities XML for a host shape this machine lacks,
plus the host's NICs with their NUMA node. Used by tests and benchmarks (topology/fixtures.h).

  gen-host-fixture.py --sockets 2 --cores 32 --threads 2 --nodes-per-socket 1 \
      --memory-gib 256 --hugepages-2m 8192 --nic ens2:1 > tests/fixtures/hosts/2s32c-smt2.xml

pCPU numbering follows Linux on x86: first thread of every core, socket by socket, then the
second threads (so pCPU n and n + cores*sockets are siblings)."""
import argparse

ap = argparse.ArgumentParser()
ap.add_argument("--sockets", type=int, default=1)
ap.add_argument("--cores", type=int, default=4, help="cores per socket")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--nodes-per-socket", type=int, default=1)
ap.add_argument("--memory-gib", type=int, default=64, help="per NUMA node")
ap.add_argument("--hugepages-2m", type=int, default=0, help="per NUMA node")
ap.add_argument("--hugepages-1g", type=int, default=0, help="per NUMA node")
ap.add_argument("--nic", action="append", default=[], help="NAME:NODE")
a = ap.parse_args()

total_cores = a.sockets * a.cores
nodes = a.sockets * a.nodes_per_socket
cores_per_node = a.cores // a.nodes_per_socket
cells = {n: [] for n in range(nodes)}
for t in range(a.threads):
    for s in range(a.sockets):
        for c in range(a.cores):
            cpu = t * total_cores + s * a.cores + c
            node = s * a.nodes_per_socket + c // cores_per_node
            sibs = ",".join(str(tt * total_cores + s * a.cores + c) for tt in range(a.threads))
            cells[node].append((cpu, s, c, sibs))

out = ["<corepin-host-fixture>", "<capabilities>", "  <host>", "    <cpu>", "      <arch>x86_64</arch>",
       "      <model>fixture</model>", "      <vendor>Intel</vendor>",
       f"      <topology sockets='{a.sockets}' dies='1' cores='{a.cores}' threads='{a.threads}'/>",
       "    </cpu>", "    <topology>", f"      <cells num='{nodes}'>"]
for n, cpus in cells.items():
    kib = a.memory_gib * 1024 * 1024
    out.append(f"        <cell id='{n}'>")
    out.append(f"          <memory unit='KiB'>{kib}</memory>")
    small = (kib - a.hugepages_2m * 2048 - a.hugepages_1g * 1048576) // 4
    out.append(f"          <pages unit='KiB' size='4'>{small}</pages>")
    out.append(f"          <pages unit='KiB' size='2048'>{a.hugepages_2m}</pages>")
    out.append(f"          <pages unit='KiB' size='1048576'>{a.hugepages_1g}</pages>")
    out.append(f"          <cpus num='{len(cpus)}'>")
    for cpu, s, c, sibs in sorted(cpus):
        out.append(f"            <cpu id='{cpu}' socket_id='{s}' die_id='0' core_id='{c}' siblings='{sibs}'/>")
    out.append("          </cpus>")
    out.append("        </cell>")
out += ["      </cells>", "    </topology>", "  </host>",
        "  <guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>",
        "</capabilities>", "<nics>"]
for i, spec in enumerate(a.nic):
    name, node = spec.split(":")
    out.append(f"  <nic name='{name}' node='{node}' address='52:54:00:00:00:{i:02x}'/>")
out += ["</nics>", "</corepin-host-fixture>"]
print("\n".join(out))
