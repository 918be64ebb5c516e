namespace Placement.Core.Prefetch;

/// <summary>A node's state as the scheduler reports it (Slurm: sinfo/scontrol; Grid Engine: qhost/qstat).</summary>
public enum NodeState
{
    /// <summary>No job on the node.</summary>
    Idle,

    /// <summary>Some CPUs allocated, some free.</summary>
    Mixed,

    /// <summary>Every CPU allocated.</summary>
    Allocated,

    /// <summary>Not responding, powered down or failed: never warmed.</summary>
    Down,

    /// <summary>Draining or drained by an admin: never warmed.</summary>
    Drain,

    /// <summary>A state the controller does not recognise: never warmed.</summary>
    Unknown,
}
