/** An error a client can act on: HTTP status, stable code, message. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } }
}
