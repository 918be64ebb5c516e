using NUnit.Framework;

namespace Placement.Tests.Images;

/// <summary>Accepted references and the canonical form each must normalize to (DESIGN §2).</summary>
internal static class ValidReferences
{
    internal const string Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    internal const string Digest = "sha256:" + Hex;
    internal const string Hex2 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    private const string Ubuntu2204 = "docker://docker.io/library/ubuntu:22.04";
    private const string Pytorch = "docker://nvcr.io/nvidia/pytorch:24.01-py3";

    private static readonly (string Input, string Canonical)[] Table =
    [
        // Docker Hub: library/, latest, host aliases, scheme and host case
        ("ubuntu", "docker://docker.io/library/ubuntu:latest"),
        ("ubuntu:22.04", Ubuntu2204),
        ("library/ubuntu:22.04", Ubuntu2204),
        ("docker.io/ubuntu:22.04", Ubuntu2204),
        ("docker.io/library/ubuntu:22.04", Ubuntu2204),
        ("index.docker.io/ubuntu:22.04", Ubuntu2204),
        ("registry-1.docker.io/library/ubuntu:22.04", Ubuntu2204),
        ("DOCKER.IO/ubuntu:22.04", Ubuntu2204),
        ("docker://ubuntu:22.04", Ubuntu2204),
        ("DOCKER://ubuntu:22.04", Ubuntu2204),
        ("docker://docker.io/library/ubuntu:22.04", Ubuntu2204),
        ("docker://index.docker.io/library/ubuntu:22.04", Ubuntu2204),
        ("user/image", "docker://docker.io/user/image:latest"),
        ("user/image:TAG_Upper", "docker://docker.io/user/image:TAG_Upper"),
        ("0/1", "docker://docker.io/0/1:latest"),
        ("localhost:5000", "docker://docker.io/library/localhost:5000"),
        ("nvcr.io", "docker://docker.io/library/nvcr.io:latest"),
        // digests
        ("ubuntu@" + Digest, "docker://docker.io/library/ubuntu@" + Digest),
        ("ubuntu:22.04@" + Digest, Ubuntu2204 + "@" + Digest),
        ("docker://ubuntu:22.04@" + Digest, Ubuntu2204 + "@" + Digest),
        ("quay.io/org/app@" + Digest, "docker://quay.io/org/app@" + Digest),
        ("nvcr.io/nvidia/pytorch:24.01-py3@" + Digest, Pytorch + "@" + Digest),
        // other registries, ports
        ("nvcr.io/nvidia/pytorch:24.01-py3", Pytorch),
        ("docker://nvcr.io/nvidia/pytorch:24.01-py3", Pytorch),
        ("NVCR.IO/nvidia/pytorch:24.01-py3", Pytorch),
        ("registry.example.com:5000/team/app:1", "docker://registry.example.com:5000/team/app:1"),
        ("registry.example.com:443/x", "docker://registry.example.com:443/x:latest"),
        ("localhost/app", "docker://localhost/app:latest"),
        ("localhost:5000/app:dev", "docker://localhost:5000/app:dev"),
        ("docker://localhost:5000/a/b:c", "docker://localhost:5000/a/b:c"),
        ("127.0.0.1:5000/app", "docker://127.0.0.1:5000/app:latest"),
        ("127.0.0.1:05000/app", "docker://127.0.0.1:5000/app:latest"),
        ("ghcr.io/owner/repo/sub/image:v1.2.3", "docker://ghcr.io/owner/repo/sub/image:v1.2.3"),
        ("quay.io/biocontainers/samtools:1.17--h00cdaf9_0", "docker://quay.io/biocontainers/samtools:1.17--h00cdaf9_0"),
        ("gcr.io/distroless/static-debian12:nonroot", "docker://gcr.io/distroless/static-debian12:nonroot"),
        ("my-registry.example.com/a/b/c/d/e:tag", "docker://my-registry.example.com/a/b/c/d/e:tag"),
        // repository component separators and tag grammar
        ("a/b__c", "docker://docker.io/a/b__c:latest"),
        ("a/b-----c", "docker://docker.io/a/b-----c:latest"),
        ("a/b.c_d-e", "docker://docker.io/a/b.c_d-e:latest"),
        ("foo:_tag", "docker://docker.io/library/foo:_tag"),
        ("foo:1", "docker://docker.io/library/foo:1"),
        ("foo:" + new string('t', 128), "docker://docker.io/library/foo:" + new string('t', 128)),
        ("a/" + new string('b', 253), "docker://docker.io/a/" + new string('b', 253) + ":latest"),
        // enroot / pyxis
        ("nvcr.io#nvidia/pytorch:24.01-py3", Pytorch),
        ("docker://nvcr.io#nvidia/pytorch:24.01-py3", Pytorch),
        ("alice@nvcr.io#nvidia/pytorch:24.01-py3", Pytorch),
        ("docker://alice@nvcr.io#nvidia/pytorch:24.01-py3", Pytorch),
        ("alice@registry.example.com:5000#team/app:1", "docker://registry.example.com:5000/team/app:1"),
        ("alice@ubuntu:22.04", Ubuntu2204),
        ("alice.b-c_d@nvcr.io#x", "docker://nvcr.io/x:latest"),
        ("nvcr.io#nvidia/x@" + Digest, "docker://nvcr.io/nvidia/x@" + Digest),
        ("registry:5000#app", "docker://registry:5000/app:latest"),
        ("localhost#app", "docker://localhost/app:latest"),
        ("docker.io#ubuntu", "docker://docker.io/library/ubuntu:latest"),
        ("NVCR.IO#nvidia/x", "docker://nvcr.io/nvidia/x:latest"),
        ("nvcr.io#other.io/x", "docker://nvcr.io/other.io/x:latest"),
        // http(s)
        ("https://example.com/images/ubuntu.sif", "https://example.com/images/ubuntu.sif"),
        ("HTTPS://Example.COM/images/Ubuntu.sif", "https://example.com/images/Ubuntu.sif"),
        ("https://example.com:443/x.sqsh", "https://example.com/x.sqsh"),
        ("https://example.com:8443/a/b/c/x.sqsh", "https://example.com:8443/a/b/c/x.sqsh"),
        ("http://127.0.0.1:8080/x.squashfs", "http://127.0.0.1:8080/x.squashfs"),
        ("http://localhost:80/x.sif", "http://localhost/x.sif"),
        ("http://EXAMPLE.com:8080/Dir/x.sif", "http://example.com:8080/Dir/x.sif"),
        ("https://s3.amazonaws.com/bucket/x.sqsh?X-Amz-Signature=abc&X-Amz-Expires=300",
            "https://s3.amazonaws.com/bucket/x.sqsh?X-Amz-Signature=abc&X-Amz-Expires=300"),
        ("https://example.com/x.sif?v=1", "https://example.com/x.sif?v=1"),
        ("https://example.com/x.sif#sha256=" + Hex2, "https://example.com/x.sif#sha256=" + Hex2),
        ("https://example.com/a%20b/x.sif", "https://example.com/a%20b/x.sif"),
        ("https://example.com/x.SIF", "https://example.com/x.SIF"),
        ("https://example.com/~user/a.b/x.sif", "https://example.com/~user/a.b/x.sif"),
        ("https://example.com/.x.sif", "https://example.com/.x.sif"),
        // files
        ("/a/b/img.sqsh", "file:///a/b/img.sqsh"),
        ("file:///a/b/img.sif", "file:///a/b/img.sif"),
        ("FILE:///a/b/img.sif", "file:///a/b/img.sif"),
        ("/cvmfs/unpacked.cern.ch/x/y", "file:///cvmfs/unpacked.cern.ch/x/y"),
        ("/shared/images/pytorch_24.01+cu12,v2=1.sqsh", "file:///shared/images/pytorch_24.01+cu12,v2=1.sqsh"),
        ("/a/.hidden/img.sif", "file:///a/.hidden/img.sif"),
        ("/a/b...c/img.sif", "file:///a/b...c/img.sif"),
    ];

    internal static IEnumerable<TestCaseData> All() =>
        Table.Select(row => new TestCaseData(row.Input, row.Canonical).SetArgDisplayNames(Shorten(row.Input)));

    internal static IEnumerable<string> Inputs() => Table.Select(row => row.Input);

    internal static int Count => Table.Length;

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";
}
