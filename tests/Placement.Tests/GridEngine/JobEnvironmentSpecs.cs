using Placement.Core.GridEngine;
using Placement.Core.Processes;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The queue prolog and epilog run as root with the job owner's environment: after reading the job they keep none of
/// it, neither for native code (OpenSSL's getenv) nor for the programs they start.
/// </summary>
[NonParallelizable] // it replaces this process's environment for a moment (and puts it back)
public sealed class JobEnvironmentSpecs
{
    [Test]
    public async Task The_prolog_environment_keeps_nothing_the_job_owner_set_and_a_system_PATH()
    {
        var saved = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string)e.Value!);
        try
        {
            // What a job could carry: qsub -v PATH=$HOME/bin:...,OPENSSL_CONF=...,SSL_CERT_FILE=...
            JobEnvironment.Replace(new Dictionary<string, string>(saved)
            {
                ["PATH"] = "/home/mallory/bin:" + saved.GetValueOrDefault("PATH", "/usr/bin"),
                ["OPENSSL_CONF"] = "/home/mallory/openssl.cnf",
                ["SSL_CERT_FILE"] = "/home/mallory/ca.pem",
                ["https_proxy"] = "http://mallory.example:3128",
                ["PLACEMENT_CONFIG"] = "/home/mallory/placement.json",
            });
            Assert.That(JobEnvironment.Native("OPENSSL_CONF"), Is.EqualTo("/home/mallory/openssl.cnf"), "the setup reached native code");

            JobEnvironment.Reset();

            foreach (var name in new[] { "OPENSSL_CONF", "SSL_CERT_FILE", "https_proxy", "PLACEMENT_CONFIG", "HOME" })
            {
                Assert.That(JobEnvironment.Native(name), Is.Null, name + " as OpenSSL would read it");
                Assert.That(Environment.GetEnvironmentVariable(name), Is.Null, name + " in .NET's copy");
            }
            Assert.That(JobEnvironment.Native("PATH"), Is.EqualTo(JobEnvironment.SystemPath));
            var env = await ExternalCommands.RunAsync(new ExternalCommand("env", []));
            Assert.That(env.StandardOutput.Trim(), Is.EqualTo("PATH=" + JobEnvironment.SystemPath), "what a program root starts sees");
        }
        finally
        {
            JobEnvironment.Replace(saved);
        }
    }
}
