// The prebuilt bundle needs no Node polyfills under Vite; its API is simple-peer's.
declare module 'simple-peer/simplepeer.min.js' {
  import SimplePeer from 'simple-peer'
  export default SimplePeer
}
