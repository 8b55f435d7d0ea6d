import Foundation

/// A mistake in the user's input (config, data file, flag): one line naming where, what was
/// expected and how to fix it. The command line prints it and exits with code 2.
public struct UserError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Edit distance, for "did you mean" suggestions.
func levenshtein(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}

/// The closest of `candidates` to `word`, when it is close enough to be a plausible typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, levenshtein(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }) else { return nil }
    let limit = max(2, word.count / 3)
    if best.1 <= limit { return best.0 }
    if let sub = candidates.first(where: { $0.contains(word) || word.contains($0) }) { return sub }
    return nil
}
