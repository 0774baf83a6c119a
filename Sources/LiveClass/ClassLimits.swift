// Every limit of the class protocol in one place; docs/protocol.md ("Limits") lists the same.

public enum ClassLimits {
    /// Largest message a phone or console may send, counted after inflation. The WebSocket
    /// layer refuses a bigger one with close code 1009 (ClassServer.install sets it; the
    /// transport's own default, for ws-echo, is WebSocketLimits' 1 MiB).
    public static let maxMessageBytes = 64 * 1024
    /// Announcements longer than this (in characters as people count them: grapheme
    /// clusters) are refused with `too-long`; the console stops typing at the same length.
    public static let maxAnnouncementCharacters = 280
    /// A participant's display name is cut to this many characters (never inside one).
    public static let maxNameCharacters = 40
    /// Messages per connection: sustained rate and burst (token bucket); past it, 1008.
    static let messagesPerSecond = 20.0
    static let messageBurst = 40.0
}
