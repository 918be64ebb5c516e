using Placement.Prefetcher.Cli;

return await PlacementCli.RunAsync(args).ConfigureAwait(false);
