/// `GET /`: the live board.
enum BoardPage {
    static let html = "<!doctype html><title>PatrolHub</title>"
}
