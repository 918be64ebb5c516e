using System.Text.Json;

namespace Placement.LoadSensor;

/// <summary>
/// Reads the few fields the load sensor needs from inventory.json with a forward-only <see cref="Utf8JsonReader"/>:
/// no object model, no reflection, and tolerant of damage — a truncated or corrupt file yields everything read
/// before the damage (cacheBytes and freeBytes come before the image list in the files the cache writes).
/// </summary>
internal static class InventoryScanner
{
    /// <summary>Inventories beyond this are not read (a 1,000-image inventory is about 400 KB).</summary>
    private const int MaxBytes = 64 << 20;

    public static InventoryScan Read(string path)
    {
        var scan = new InventoryScan();
        byte[] bytes;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            var length = file.Length;
            if (length > MaxBytes)
            {
                scan.Problem = $"{path} is {length} bytes, more than the {MaxBytes} the sensor reads";
                return scan;
            }
            bytes = new byte[length];
            var read = 0;
            while (read < bytes.Length)
            {
                var n = file.Read(bytes, read, bytes.Length - read);
                if (n == 0)
                    break; // shrank while we read: parse what we have
                read += n;
            }
            if (read < bytes.Length)
                Array.Resize(ref bytes, read);
        }
        catch (FileNotFoundException)
        {
            scan.Problem = $"{path} does not exist (no image pulled on this node yet, or Cache:Root is wrong)";
            return scan;
        }
        catch (DirectoryNotFoundException)
        {
            scan.Problem = $"{path} does not exist (its directory is missing: is Cache:Root right?)";
            return scan;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            scan.Problem = $"cannot read {path}: {ex.Message}";
            return scan;
        }

        if (bytes.Length == 0)
        {
            scan.Problem = $"{path} is empty";
            return scan;
        }
        try
        {
            Parse(bytes, scan);
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $"line {line + 1}, byte {ex.BytePositionInLine}" : ex.Message;
            scan.Problem = $"{path} is not valid JSON ({where}); reporting the {scan.Ids.Count} image(s) read before that";
        }
        return scan;
    }

    private static void Parse(ReadOnlySpan<byte> json, InventoryScan scan)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 16 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("inventory is not a JSON object");
        var complete = false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
            {
                complete = true;
                break;
            }
            if (reader.TokenType != JsonTokenType.PropertyName)
                throw new JsonException("expected a property name");
            if (NameIs(ref reader, "cacheBytes"u8))
                scan.CacheBytes = ReadLong(ref reader);
            else if (NameIs(ref reader, "freeBytes"u8))
                scan.FreeBytes = ReadLong(ref reader);
            else if (NameIs(ref reader, "images"u8))
                ReadImages(ref reader, scan.Ids);
            else
            {
                reader.Read();
                if (!reader.TrySkip())
                    throw new JsonException("truncated value");
            }
        }
        if (!complete)
            throw new JsonException("inventory ends early");
    }

    private static long? ReadLong(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0 ? value : null;
    }

    /// <summary>The reader passes invalid UTF-8 inside a string; decoding it throws InvalidOperationException, which would
    /// end the sensor (and execd would restart it into the same crash at every report): damage, like torn JSON.</summary>
    private static string ReadString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new JsonException($"the image id at byte {reader.TokenStartIndex} is not valid UTF-8", ex);
        }
    }

    /// <summary>Whether the property name is <paramref name="name"/>. Comparing a name that escapes half a surrogate pair
    /// (<c>"\ud800"</c>) throws InvalidOperationException, which would end the sensor like an undecodable id: damage.</summary>
    private static bool NameIs(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        try
        {
            return reader.ValueTextEquals(name);
        }
        catch (InvalidOperationException ex)
        {
            throw new JsonException($"the property name at byte {reader.TokenStartIndex} escapes half a UTF-16 surrogate pair", ex);
        }
    }

    private static void ReadImages(ref Utf8JsonReader reader, List<string> ids)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            if (!reader.TrySkip())
                throw new JsonException("truncated value");
            return;
        }
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new JsonException("image entry is not an object");
            string? id = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                    throw new JsonException("expected a property name");
                var isId = NameIs(ref reader, "id"u8);
                reader.Read();
                if (isId && reader.TokenType == JsonTokenType.String)
                    id = ReadString(ref reader);
                else if (!reader.TrySkip())
                    throw new JsonException("truncated value");
            }
            if (reader.TokenType != JsonTokenType.EndObject)
                throw new JsonException("image entry ends early");
            // Only entries that closed are reported: a torn entry is not evidence the image is here.
            if (id is not null && SensorReport.IsSafeId(id))
                ids.Add(id);
        }
    }
}
