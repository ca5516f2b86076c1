"""Predictable scaling: sweep small runs, fit a law, predict a bigger run's loss, check it.

    recipe grid ──sweep──▶ SWEEP/runs/<name>/ (gptkit train runs) + manifest.json
    SWEEP ──fit──▶ FIT/fit.json + fit.png        FIT ──predict──▶ loss ± interval, optimal shape
    FIT + RUN ──check──▶ FIT/checks/<run>/check.json + check.png

Modules: ``config`` (the [scale] recipe table), ``sweep``, ``runs`` (finished runs as points),
``laws`` (the forms and the robust fit), ``fit``, ``predict``, ``check``, ``plot``.
"""
