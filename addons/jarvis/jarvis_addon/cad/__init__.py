"""CAD generation: parametric templates (CadQuery), sandboxed model-written CadQuery, cloud providers
(Zoo, Tripo), a cycler that makes variants across providers, a job queue and an artifact store with
lineage. See docs/cad.md.
"""
