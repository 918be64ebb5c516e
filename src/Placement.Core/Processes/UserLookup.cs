using System.Globalization;

namespace Placement.Core.Processes;

/// <summary>User names to uids as the node resolves them (NSS: files, LDAP, SSSD), through <c>getent passwd</c>.</summary>
public static class UserLookup
{
    /// <summary>The uid of <paramref name="user"/>, or null when the node knows no such user, or getent fails or takes
    /// longer than 10 s (a slow directory service).</summary>
    public static async Task<int?> UidOfAsync(string user, CancellationToken cancellationToken = default)
    {
        if (user.Length == 0 || user.StartsWith('-'))
            return null;
        ExternalCommandResult result;
        try
        {
            result = await ExternalCommands.RunAsync(new ExternalCommand("getent", ["passwd", user])
            {
                AllowNonZeroExit = true,
                Timeout = TimeSpan.FromSeconds(10),
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ExternalCommandException)
        {
            return null;
        }
        var fields = result.StandardOutput.Trim().Split(':');
        return result.Succeeded && fields.Length > 2 && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
    }
}
