/**
 * effect-wsgi: Python's `wsgiref` (PEP 3333) in TypeScript, on Effect.
 *
 * @since 0.1.0
 */
export type {
  Application,
  CgiVariables,
  Environ,
  ErrorStream,
  HeaderList,
  InputStream,
  ResponseBody,
  StartResponse,
  Write
} from "./Protocol.js"

export {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  InputError,
  isClientGone,
  OutputError,
  ProtocolError,
  ResponseAborted
} from "./HandlerError.js"

export { Headers } from "./Headers.js"
export {
  applicationUri,
  guessScheme,
  isHopByHop,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo
} from "./Util.js"
export { type FileLike, fileLike, type FileOnDisk, FileWrapper } from "./FileWrapper.js"

export { type ByteSink, type MemoryOutput, type NodeWritableLike, Output, type OutputShape, type PlainSink } from "./Output.js"
export { Input, type InputShape } from "./Input.js"
export { ErrorLog, type ErrorLogShape, type MemoryErrorLog, type TextWritable } from "./ErrorLog.js"
export { EnvironSource, type EnvironSourceShape } from "./EnvironSource.js"
export { FileTransmitter, type FileTransmitterShape, type Transmission } from "./FileTransmitter.js"
export * as HandlerConfig from "./HandlerConfig.js"
export * as Handler from "./Handler.js"
export {
  context,
  CurrentSteps,
  defaultSteps,
  type Handling,
  type HandlerServices,
  type HandlerState,
  layer,
  type RequestServices,
  run,
  runWith,
  type StepEffect,
  type StepError,
  type Steps,
  withConfig,
  withSteps
} from "./Handler.js"
export * as Testing from "./Testing.js"

export {
  BaseCGIHandler,
  BaseHandler,
  CGIHandler,
  formatDateTime,
  IISCGIHandler,
  NotImplementedError,
  readEnviron,
  SimpleHandler,
  type StderrSink,
  type StdinSource
} from "./HandlerClasses.js"

export { type HttpAppOptions, toHttpApp } from "./HttpApp.js"

export {
  demoApp,
  type Http2ServerOptions,
  makeServer,
  type ServerOptions,
  type TlsCertificates,
  type TlsOptions,
  type WSGIServer
} from "./Server.js"
export { type NodeListener, type NodeListenerOptions, RequestBodyTooLarge, toNodeListener } from "./NodeListener.js"

export { ValidationError, validator, validatorChannel, WSGIWarning } from "./Validate.js"
