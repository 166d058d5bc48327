"""CAD generation: templates, sandbox, cloud providers, cycler, jobs and lineage.

Parametric templates (CadQuery), sandboxed model-written CadQuery, cloud providers
(Zoo, Tripo), a cycler that makes variants across providers, a job queue and an artifact store with
lineage. See docs/cad.md.
"""
