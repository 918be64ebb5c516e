namespace Placement.Tests.Sources;

/// <summary>How <see cref="TestFileServer"/> answers one request.</summary>
internal enum ServeMode
{
    /// <summary>200, or 206 for a Range request.</summary>
    Normal,

    /// <summary>Announces the full length, sends <see cref="TestFileServer.CutAfter"/> bytes, then resets the connection.</summary>
    Cut,

    /// <summary>Sends <see cref="TestFileServer.CutAfter"/> bytes and then nothing, keeping the connection open.</summary>
    Stall,

    /// <summary>200 with the whole file in chunked encoding, no Content-Length, in <see cref="TestFileServer.CutAfter"/>-byte chunks.</summary>
    Chunked,

    /// <summary>Right length, wrong bytes.</summary>
    WrongBytes,

    /// <summary>Answers 200 with the whole file even to a Range request.</summary>
    IgnoreRange,

    /// <summary>404.</summary>
    NotFound,

    /// <summary>307 to <see cref="TestFileServer.RedirectTo"/>.</summary>
    Redirect,
}
