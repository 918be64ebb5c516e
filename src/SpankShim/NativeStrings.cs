using System.Runtime.InteropServices;
using System.Text;

namespace Placement.SpankShim;

/// <summary>UTF-8 C string helpers for the exported functions (caller-owned buffers, always NUL-terminated).</summary>
internal static unsafe class NativeStrings
{
    public static string? Read(byte* text) => text == null ? null : Marshal.PtrToStringUTF8((nint)text);

    /// <summary>Writes <paramref name="value"/> truncated to fit, NUL-terminated. Does nothing for a null or empty buffer.</summary>
    public static void Write(string value, byte* buffer, nuint length)
    {
        if (buffer == null || length == 0)
            return;
        var span = new Span<byte>(buffer, (int)Math.Min(length, int.MaxValue));
        var max = span.Length - 1;
        var bytes = Encoding.UTF8.GetBytes(value);
        var count = Math.Min(bytes.Length, max);
        // never cut a multi-byte sequence in half
        while (count > 0 && count < bytes.Length && (bytes[count] & 0xC0) == 0x80)
            count--;
        bytes.AsSpan(0, count).CopyTo(span);
        span[count] = 0;
    }
}
