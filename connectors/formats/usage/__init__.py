"""GPU-usage evidence: scheduler accounting (Slurm) and GPU telemetry (DCGM, nvidia-smi)."""
