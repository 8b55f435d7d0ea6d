import Engine
import Foundation
import XCTest

final class BLASOrthogonalTests: XCTestCase {

    /// Gram matrix of the rows (rowsGram) or the columns of a rows×cols row-major matrix.
    private func gram(_ q: FloatBuffer, rows: Int, cols: Int, ofRows: Bool) -> [[Double]] {
        let k = ofRows ? rows : cols, len = ofRows ? cols : rows
        var g = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for i in 0..<k {
            for j in 0..<k {
                var s = 0.0
                for l in 0..<len {
                    let a = ofRows ? q[i * cols + l] : q[l * cols + i]
                    let b = ofRows ? q[j * cols + l] : q[l * cols + j]
                    s += Double(a) * Double(b)
                }
                g[i][j] = s
            }
        }
        return g
    }

    private func assertScaledIdentity(_ g: [[Double]], _ scale: Double, _ label: String) {
        for i in 0..<g.count {
            for j in 0..<g.count {
                XCTAssertEqual(g[i][j], i == j ? scale : 0, accuracy: 1e-5 * max(1, scale), "\(label)[\(i),\(j)]")
            }
        }
    }

    func testTallOrthogonalHasOrthonormalColumns() {
        var rng = RNG(seed: 11)
        let q = FloatBuffer(count: 24)
        BLAS.orthogonal(rows: 6, cols: 4, gain: 1, rng: &rng, into: q.pointer)
        assertScaledIdentity(gram(q, rows: 6, cols: 4, ofRows: false), 1, "QᵀQ (6×4)")
        XCTAssertTrue(q.array.allSatisfy { $0.isFinite && abs($0) <= 1 + 1e-6 })
    }

    func testWideOrthogonalHasOrthonormalRows() {
        var rng = RNG(seed: 12)
        let q = FloatBuffer(count: 24)
        BLAS.orthogonal(rows: 4, cols: 6, gain: 1, rng: &rng, into: q.pointer)
        assertScaledIdentity(gram(q, rows: 4, cols: 6, ofRows: true), 1, "QQᵀ (4×6)")
    }

    func testSquareGainAndDeterminism() {
        var r1 = RNG(seed: 13), r2 = RNG(seed: 13)
        let q1 = FloatBuffer(count: 25), q2 = FloatBuffer(count: 25)
        BLAS.orthogonal(rows: 5, cols: 5, gain: 2, rng: &r1, into: q1.pointer)
        BLAS.orthogonal(rows: 5, cols: 5, gain: 2, rng: &r2, into: q2.pointer)
        XCTAssertEqual(q1.array, q2.array)
        assertScaledIdentity(gram(q1, rows: 5, cols: 5, ofRows: false), 4, "QᵀQ gain 2")
        assertScaledIdentity(gram(q1, rows: 5, cols: 5, ofRows: true), 4, "QQᵀ gain 2")
        // A different stream gives a different matrix; a single column is a unit vector.
        var r3 = RNG(seed: 14)
        let q3 = FloatBuffer(count: 25)
        BLAS.orthogonal(rows: 5, cols: 5, gain: 2, rng: &r3, into: q3.pointer)
        XCTAssertNotEqual(q1.array, q3.array)
        let v = FloatBuffer(count: 7)
        BLAS.orthogonal(rows: 7, cols: 1, gain: 1, rng: &r3, into: v.pointer)
        XCTAssertEqual(v.array.reduce(0) { $0 + Double($1) * Double($1) }, 1, accuracy: 1e-5)
    }
}
