namespace Placement.Core.Sources;

/// <summary>Exponential backoff with ±50 % jitter, honouring Retry-After, for transient <see cref="SourceException"/>s.</summary>
internal static class RetryPolicy
{
    /// <summary>Delay before attempt <paramref name="nextAttempt"/> (2, 3, …).</summary>
    public static TimeSpan DelayBefore(int nextAttempt, SourceOptions options, SourceException? failure)
    {
        if (failure is not null)
            Metrics.PlacementMetrics.SourceRetries.WithLabels(failure.Kind.ToString().ToLowerInvariant()).Inc();
        var exponent = Math.Min(nextAttempt - 2, 20);
        var baseMs = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, exponent);
        var cappedMs = Math.Min(baseMs, options.RetryMaxDelay.TotalMilliseconds);
        var delay = TimeSpan.FromMilliseconds(cappedMs * (0.5 + Random.Shared.NextDouble()));
        if (failure?.RetryAfter is { } asked && asked > delay)
            delay = asked < options.RetryMaxDelay ? asked : options.RetryMaxDelay;
        return delay;
    }

    /// <summary>Runs <paramref name="operation"/> until it succeeds, fails permanently, or runs out of attempts.</summary>
    public static async Task<T> RunAsync<T>(SourceOptions options, Func<int, Task<T>> operation, CancellationToken cancellationToken)
    {
        var attempts = Math.Max(1, options.MaxAttempts);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await operation(attempt).ConfigureAwait(false);
            }
            catch (SourceException ex) when (ex.IsTransient && attempt < attempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(DelayBefore(attempt + 1, options, ex), cancellationToken).ConfigureAwait(false);
            }
            catch (SourceException ex) when (ex.IsTransient && attempts > 1)
            {
                throw new SourceException(ex.Kind, $"{ex.Message} (gave up after {attempt} attempts)", ex.StatusCode, ex);
            }
        }
    }
}
