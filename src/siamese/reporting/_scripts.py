"""The report's own JavaScript (inline, no library, nothing fetched): hover previews of the
items behind the points of the embedding figures, and the 3-D canvas viewer.

Any script error is recorded on ``<html data-js-errors="...">`` and a finished start-up sets
``<html data-js="ready">``, so a headless browser's DOM dump tells whether the scripts ran.
"""

SCRIPTS_JS = r"""
var siameseErrors=[];
window.addEventListener('error',function(e){
  siameseErrors.push(String(e.message));
  document.documentElement.setAttribute('data-js-errors',siameseErrors.join(' | '));
});
function siameseFrame(group,i){
  var frames=document.querySelectorAll('[data-group="'+group+'"]');
  for(var k=0;k<frames.length;k++){frames[k].hidden=(k!=i);}
  document.getElementById(group+'-label').textContent=frames[i].getAttribute('data-label');
}
var siameseCache={};
function siameseJson(id){
  if(!(id in siameseCache)){
    var el=document.getElementById(id);
    siameseCache[id]=el?JSON.parse(el.textContent):null;
  }
  return siameseCache[id];
}
function siameseEsc(t){
  return String(t).replace(/[&<>"]/g,function(c){
    return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});
}
function siameseNum(v){
  var a=Math.abs(v);
  if(a!==0&&(a>=1e5||a<1e-3)){return v.toExponential(2);}
  return String(+v.toPrecision(3));
}
var siameseTipEl=null;
function siameseTip(){
  if(!siameseTipEl){
    siameseTipEl=document.createElement('div');
    siameseTipEl.className='tip';
    siameseTipEl.hidden=true;
    document.body.appendChild(siameseTipEl);
  }
  return siameseTipEl;
}
function siameseHideTip(){siameseTip().hidden=true;}
var SERIES_COLOURS=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd'];
function siameseSparkline(cv,data,it){
  var g=cv.getContext('2d'),W=cv.width,left=56,band=50,plot=32,levels=1000;
  g.font='10px sans-serif';g.textBaseline='middle';
  for(var j=0;j<it.v.length;j++){
    var top=j*band,y0=top+14,v=it.v[j],n=v.length,w=W-left-4;
    g.fillStyle='#333';g.fillText(data.channels[j],2,top+6);
    g.fillStyle='#666';
    g.fillText(siameseNum(data.hi[j]),2,y0+3);g.fillText(siameseNum(data.lo[j]),2,y0+plot-3);
    g.strokeStyle='#dddddd';g.lineWidth=1;g.strokeRect(left,y0,w,plot);
    g.strokeStyle=SERIES_COLOURS[j%SERIES_COLOURS.length];g.lineWidth=1.3;g.beginPath();
    for(var t=0;t<n;t++){
      var x=left+w*(n>1?t/(n-1):0),y=y0+plot-plot*v[t]/levels;
      if(t){g.lineTo(x,y);}else{g.moveTo(x,y);}
    }
    g.stroke();
  }
  g.fillStyle='#555';g.fillText('time steps 0-'+(it.n-1),left,it.v.length*band+6);
}
function siameseShowItem(data,i,px,py,extra){
  var it=data.items[i],tip=siameseTip();
  var html='<b>'+siameseEsc(it.c)+'</b>'+(extra?' <span class="src">'+siameseEsc(extra)+'</span>':'')+
    '<br><span class="src">'+siameseEsc(it.s)+'</span><br>';
  if(it.img){html+='<img src="'+it.img+'" alt="item">';}
  else if(it.f){
    html+='<table><tr><th>feature</th><th>value</th><th>normalised</th></tr>';
    for(var k=0;k<it.f.length;k++){
      html+='<tr><td>'+siameseEsc(it.f[k][0])+'</td><td>'+siameseNum(it.f[k][1])+'</td><td>'+
        siameseNum(it.f[k][2])+'</td></tr>';
    }
    html+='</table>';
  }
  else if(it.v){html+='<canvas width="280" height="'+(it.v.length*50+14)+'"></canvas>';}
  tip.innerHTML=html;tip.hidden=false;
  if(it.v){siameseSparkline(tip.querySelector('canvas'),data,it);}
  var x=px+14,y=py+14,r=tip.getBoundingClientRect();
  if(x+r.width>window.scrollX+document.documentElement.clientWidth){x=px-r.width-14;}
  if(y+r.height>window.scrollY+window.innerHeight){y=py-r.height-14;}
  tip.style.left=Math.max(0,x)+'px';tip.style.top=Math.max(0,y)+'px';
}
function siameseNearest(sets,mx,my,radius){
  var best=null,bd=radius*radius;
  for(var s=0;s<sets.length;s++){
    var xy=sets[s].xy;
    for(var i=0;i<xy.length;i+=2){
      var dx=xy[i]-mx,dy=xy[i+1]-my,d=dx*dx+dy*dy;
      if(d<=bd){bd=d;best={set:sets[s],i:i/2};}
    }
  }
  return best;
}
function siameseHoverImage(img){
  var frames=siameseJson(img.getAttribute('data-pixels'));
  var sets=frames[+img.getAttribute('data-frame')];
  img.addEventListener('mousemove',function(e){
    var r=img.getBoundingClientRect(),sx=img.naturalWidth/r.width,sy=img.naturalHeight/r.height;
    var hit=siameseNearest(sets,(e.clientX-r.left)*sx,(e.clientY-r.top)*sy,7*sx);
    if(!hit){siameseHideTip();return;}
    siameseShowItem(siameseJson(hit.set.h),hit.set.p?hit.set.p[hit.i]:hit.i,e.pageX,e.pageY,hit.set.l);
  });
  img.addEventListener('mouseleave',siameseHideTip);
}
function siameseView3d(root){
  var d=siameseJson(root.getAttribute('data-src')),cv=root.querySelector('canvas');
  var g=cv.getContext('2d'),range=root.querySelector('input'),btn=root.querySelector('button');
  var label=root.querySelector('.v3d-label'),last=d.frames.length-1,L=1000;
  var yaw=-0.6,pitch=0.45,frame=d.start,frac=0,timer=null,drag=null,screen=[];
  var n=d.points.length;
  function at(f,i,k){return d.frames[f].q[3*i+k]/L-0.5;}
  function pos(i){
    var f2=Math.min(frame+1,last),p=[];
    for(var k=0;k<3;k++){p.push(at(frame,i,k)*(1-frac)+at(f2,i,k)*frac);}
    return p;
  }
  function view(p){
    var cy=Math.cos(yaw),sy=Math.sin(yaw),cp=Math.cos(pitch),sp=Math.sin(pitch);
    var x=p[0]*cy-p[1]*sy,y=p[0]*sy+p[1]*cy,z=p[2];
    var depth=y*cp-z*sp,up=z*cp+y*sp,s=Math.min(cv.width,cv.height)*0.5*2.6/(2.6+depth);
    return [cv.width/2+x*s,cv.height/2-up*s,depth];
  }
  function line(a,b){var p=view(a),q=view(b);g.beginPath();g.moveTo(p[0],p[1]);g.lineTo(q[0],q[1]);g.stroke();}
  function text(p,t,c){var s=view(p);g.fillStyle=c||'#333';g.fillText(t,s[0]+4,s[1]);}
  function draw(){
    g.clearRect(0,0,cv.width,cv.height);
    g.font='11px sans-serif';g.lineWidth=1;g.strokeStyle='#cfd8dc';
    var c=[-0.5,0.5];
    for(var a=0;a<2;a++){for(var b=0;b<2;b++){
      line([c[0],c[a],c[b]],[c[1],c[a],c[b]]);
      line([c[a],c[0],c[b]],[c[a],c[1],c[b]]);
      line([c[a],c[b],c[0]],[c[a],c[b],c[1]]);
    }}
    g.strokeStyle='#546e7a';g.lineWidth=2;
    var o=[-0.5,-0.5,-0.5],ends=[[0.5,-0.5,-0.5],[-0.5,0.5,-0.5],[-0.5,-0.5,0.5]];
    for(var k=0;k<3;k++){
      line(o,ends[k]);
      text(ends[k],d.axes[k]+' '+siameseNum(d.hi[k]),'#263238');
    }
    text(o,'('+d.lo.map(siameseNum).join(', ')+')','#546e7a');
    screen=[];
    for(var i=0;i<n;i++){var s=view(pos(i));screen.push([s[0],s[1],s[2],i]);}
    var order=screen.slice().sort(function(p,q){return q[2]-p[2];});
    for(var j=0;j<order.length;j++){
      var p=order[j];
      g.beginPath();g.arc(p[0],p[1],3.2,0,2*Math.PI);
      g.fillStyle=d.colours[d.points[p[3]]];g.fill();
      g.strokeStyle='rgba(0,0,0,0.35)';g.lineWidth=0.6;g.stroke();
    }
    g.fillStyle='#263238';g.font='13px sans-serif';
    g.fillText(d.frames[frame].label+(frac>0?' -> '+d.frames[Math.min(frame+1,last)].label:''),10,18);
  }
  function show(f){frame=f;frac=0;range.value=f;label.textContent=d.frames[f].label;draw();}
  function stop(){if(timer){clearInterval(timer);timer=null;}btn.textContent='play';}
  btn.addEventListener('click',function(){
    if(timer){stop();return;}
    if(frame>=last){show(0);}
    btn.textContent='pause';
    timer=setInterval(function(){
      frac+=0.125;
      if(frac>=1){show(frame+1);if(frame>=last){stop();}}else{draw();}
    },40);
  });
  range.addEventListener('input',function(){stop();show(+range.value);});
  cv.addEventListener('mousedown',function(e){drag=[e.clientX,e.clientY];e.preventDefault();});
  window.addEventListener('mouseup',function(){drag=null;});
  cv.addEventListener('mousemove',function(e){
    var r=cv.getBoundingClientRect(),sx=cv.width/r.width,sy=cv.height/r.height;
    if(drag){
      yaw+=(e.clientX-drag[0])*0.01;
      pitch=Math.max(-1.5,Math.min(1.5,pitch+(e.clientY-drag[1])*0.01));
      drag=[e.clientX,e.clientY];siameseHideTip();draw();return;
    }
    if(!d.hover){return;}
    var mx=(e.clientX-r.left)*sx,my=(e.clientY-r.top)*sy,best=-1,bd=49;
    for(var i=0;i<screen.length;i++){
      var dx=screen[i][0]-mx,dy=screen[i][1]-my;
      if(dx*dx+dy*dy<bd){bd=dx*dx+dy*dy;best=i;}
    }
    if(best<0){siameseHideTip();return;}
    siameseShowItem(siameseJson(d.hover),best,e.pageX,e.pageY,d.frames[frame].label);
  });
  cv.addEventListener('mouseleave',siameseHideTip);
  show(frame);
}
document.addEventListener('DOMContentLoaded',function(){
  var imgs=document.querySelectorAll('img[data-pixels]');
  for(var i=0;i<imgs.length;i++){siameseHoverImage(imgs[i]);}
  var views=document.querySelectorAll('.view3d');
  for(var j=0;j<views.length;j++){siameseView3d(views[j]);}
  document.documentElement.setAttribute('data-js','ready');
});
"""
